"""Postdesk core: everything a user can do, without Qt. Never import PySide6 below this package."""
