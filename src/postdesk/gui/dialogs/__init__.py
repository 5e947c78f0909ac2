"""Dialogs: each collects input for one action and validates it inline; pages call core."""
