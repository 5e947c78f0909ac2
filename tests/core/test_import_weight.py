"""Each command loads only what it uses: heavy libraries stay out of the commands that need none.

Each command runs as a user runs it, in its own process, and reports ``sys.modules`` at exit.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from postdesk.core.store import open_store
from postdesk.core.store.models import SmtpService
from support.loadedmodules import heavy, loaded_by
from support.workspace import add_verified_domain

# Each costs from ~0.1 s (Alembic, cryptography) to ~0.5 s (the Qt bindings, an HTTP client).
GUI = ("PySide6",)
HTTP_CLIENTS = ("aiohttp", "httpx", "httpx2", "httpcore2", "h2", "requests")
RELAY = ("aiosmtpd", "dkim", "postdesk.core.relay")
LISTING_NEVER = (*GUI, *HTTP_CLIENTS, *RELAY, "alembic", "cryptography")

LISTINGS = [
    ["--version"],
    ["service", "list", "--json"],
    ["usage", "--json"],
    ["domain", "list", "--json"],
    ["check", "--help"],
    ["test-send", "--help"],
]


# Read on the light path (stdlib sqlite3): the ORM and the models cost ~0.5 s before any query.
LIGHT_LISTINGS = [
    ["service", "list", "--json"],
    ["domain", "list", "--json"],
    ["smtp-user", "list", "shop.example", "--json"],
    ["usage", "--json"],
    ["ip", "list", "--json"],
]


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
    modules, _ = loaded_by(argv, tmp_path)
    assert heavy(modules, LISTING_NEVER) == []


@pytest.mark.parametrize("argv", LIGHT_LISTINGS, ids=" ".join)
def test_listings_of_an_up_to_date_workspace_load_no_orm(argv, workspace, tmp_path) -> None:
    modules, output = loaded_by(argv, tmp_path)
    assert json.loads(output)  # it did list
    assert "postdesk.core.store.lite" in modules
    assert heavy(modules, (*LISTING_NEVER, "sqlalchemy", "postdesk.core.store.models")) == []


def test_a_new_workspace_is_created_without_alembic(postdesk_home: Path, tmp_path: Path) -> None:
    assert not (postdesk_home / "postdesk.db").exists()
    modules, _ = loaded_by(["service", "list", "--json"], tmp_path)
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
    argv = ["check", "shop.test", "--no-mx-tls", "--json"]
    modules, output = loaded_by(argv, tmp_path, exit_codes=(0, 1))  # 1: it found problems
    assert json.loads(output)["domain"] == "shop.test"
    assert "dns.asyncresolver" in modules  # it did ask DNS
    assert heavy(modules, (*GUI, *HTTP_CLIENTS, "aiosmtpd", "alembic", "sqlalchemy")) == []
