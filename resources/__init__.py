"""Postdesk's bundled resources: icons, the desktop entry and the AppStream metadata."""
