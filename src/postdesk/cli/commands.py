"""The list of subcommands; each module adds its parser and handler."""

from __future__ import annotations

from postdesk.cli import (
    analyze,
    check,
    conversations,
    deliverability,
    dmarc,
    doctor,
    domain,
    forward,
    gui,
    ip,
    relay,
    reply,
    senders,
    service,
    settings,
    smtp_user,
    suppress,
    testsend,
    tracking,
    usage,
)

REGISTRY = [
    gui.register,
    doctor.register,
    service.register,
    smtp_user.register,
    suppress.register,
    tracking.register,
    usage.register,
    deliverability.register,
    testsend.register,
    domain.register,
    check.register,
    analyze.register,
    ip.register,
    relay.register,
    forward.register,
    senders.register,
    reply.register,
    dmarc.register,
    conversations.register,
    settings.register,
]
