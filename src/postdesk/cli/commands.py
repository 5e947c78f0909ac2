"""The list of subcommands; each module adds its parser and handler."""

from __future__ import annotations

from postdesk.cli import doctor, gui

REGISTRY = [gui.register, doctor.register]
