"""Each command loads only what it uses: heavy libraries stay out of the commands that need none.

Start-up time is mostly import time, and timing tests are noisy on shared machines; which modules a
command has loaded when it exits is not. Each command runs as a user runs it, in its own process,
and reports ``sys.modules`` at exit.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from postdesk.core.store import open_store
from postdesk.core.store.models import SmtpService
from support.workspace import add_verified_domain

# Loads every module a command imports, then reports them all when the process exits.
RUN_COMMAND = """
import atexit, json, os, sys
def report():
    with open(os.environ["MODULES_REPORT"], "w") as out:
        json.dump(sorted(sys.modules), out)
atexit.register(report)
from postdesk.cli import main
sys.exit(main(sys.argv[1:]))
"""

# Each costs from ~0.1 s (Alembic) to ~0.5 s (the Qt bindings, an HTTP client) to import.
GUI = ("PySide6",)
HTTP_CLIENTS = ("aiohttp", "httpx", "httpx2", "httpcore2", "h2", "requests")
RELAY = ("aiosmtpd", "dkim", "postdesk.core.relay")
LISTING_NEVER = (*GUI, *HTTP_CLIENTS, *RELAY, "alembic")

LISTINGS = [
    ["--version"],
    ["service", "list", "--json"],
    ["usage", "--json"],
    ["domain", "list", "--json"],
    ["check", "--help"],
    ["test-send", "--help"],
]


def loaded_by(argv: list[str], tmp_path: Path, env: dict[str, str] | None = None) -> set[str]:
    """The modules loaded when ``postdesk ARGV`` exits (it must exit 0)."""
    report = tmp_path / "modules.json"
    done = subprocess.run(
        [sys.executable, "-c", RUN_COMMAND, *argv],
        env={**os.environ, **(env or {}), "MODULES_REPORT": str(report)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return set(json.loads(report.read_text()))


def heavy(modules: set[str], names: tuple[str, ...]) -> list[str]:
    """The packages of ``names`` present in ``modules`` (a package counts with any submodule)."""
    return sorted(n for n in names if any(m == n or m.startswith(n + ".") for m in modules))


@pytest.fixture
def workspace(postdesk_home: Path) -> Path:
    """An existing workspace, already at the newest schema, with a service and a domain."""
    store = open_store()
    with store.session() as s:
        s.add(
            SmtpService(
                name="SendGrid",
                host="smtp.sendgrid.net",
                port=587,
                security="starttls",
                username="apikey",
                secret_ref="weight-none",
            )
        )
    add_verified_domain(store, "shop.example")
    store.close()
    return postdesk_home


@pytest.mark.parametrize("argv", LISTINGS, ids=" ".join)
def test_listing_commands_load_no_heavy_library(argv, workspace: Path, tmp_path: Path) -> None:
    assert heavy(loaded_by(argv, tmp_path), LISTING_NEVER) == []


def test_a_new_workspace_is_created_without_alembic(postdesk_home: Path, tmp_path: Path) -> None:
    assert not (postdesk_home / "postdesk.db").exists()
    modules = loaded_by(["service", "list", "--json"], tmp_path)
    assert heavy(modules, LISTING_NEVER) == []
    assert (postdesk_home / "postdesk.db").exists()


@pytest.mark.nsd
def test_check_asks_dns_without_an_http_client(nsd, tmp_path: Path) -> None:
    """dnspython would import its DNS-over-HTTPS stack; Postdesk asks over UDP and TCP only."""
    nsd.serve(
        {
            "shop.test": """
@ IN MX 10 mx.shop.test.
mx IN A 192.0.2.25
@ IN TXT "v=spf1 ip4:192.0.2.0/24 -all"
_dmarc IN TXT "v=DMARC1; p=none"
"""
        }
    )
    report = tmp_path / "modules.json"
    done = subprocess.run(
        [sys.executable, "-c", RUN_COMMAND, "check", "shop.test", "--no-mx-tls", "--json"],
        env={**os.environ, "MODULES_REPORT": str(report)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode in (0, 1), done.stderr  # 1: the check found problems
    assert json.loads(done.stdout)["domain"] == "shop.test"
    modules = set(json.loads(report.read_text()))
    assert "dns.asyncresolver" in modules  # it did ask DNS
    assert heavy(modules, (*GUI, *HTTP_CLIENTS, "aiosmtpd", "alembic", "sqlalchemy")) == []
