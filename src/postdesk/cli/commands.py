"""The list of subcommands; each module adds its parser and handler.

A module is imported only when its parser is built, so a command loads no other command's code.
"""

from __future__ import annotations

import argparse
import importlib

# In the order ``postdesk --help`` lists them.
MODULES = (
    "gui",
    "doctor",
    "service",
    "smtp_user",
    "suppress",
    "tracking",
    "usage",
    "deliverability",
    "activity",
    "testsend",
    "domain",
    "check",
    "analyze",
    "ip",
    "relay",
    "forward",
    "senders",
    "reply",
    "dmarc",
    "conversations",
    "settings",
    "webhooks",
)


def register(subparsers: argparse._SubParsersAction, module: str | None = None) -> None:
    """Add the parsers of every command, or only of the one in ``module`` (one of MODULES)."""
    for name in MODULES if module is None else [m for m in MODULES if m == module]:
        importlib.import_module(f"postdesk.cli.{name}").register(subparsers)
