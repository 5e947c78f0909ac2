"""Postdesk's desktop interface (PySide6 + qasync) over ``postdesk.core``."""
