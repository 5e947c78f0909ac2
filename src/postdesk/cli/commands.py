"""The list of subcommands; each module adds its parser and handler."""

from __future__ import annotations

from postdesk.cli import doctor, gui, service, smtp_user, testsend, tracking, usage

REGISTRY = [
    gui.register,
    doctor.register,
    service.register,
    smtp_user.register,
    tracking.register,
    usage.register, testsend.register,
]
