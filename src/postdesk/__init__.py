"""Postdesk: a desktop console, with a built-in relay, for sending email from your own domains."""

__version__ = "0.1.0"
APP_NAME = "Postdesk"
