"""Each command loads only what it uses: heavy libraries stay out of the commands that need none.

Each command runs as a user runs it, in its own process, and reports ``sys.modules`` at exit.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import pytest

from postdesk.cli import build_parser
from postdesk.core import activity, services, usage
from postdesk.core.services import ServiceForm
from postdesk.core.store import open_store
from postdesk.core.store.models import SmtpService
from support.loadedmodules import heavy, loaded_by
from support.smtpd import SMTP_PASSWORD, SMTP_USER
from support.workspace import add_signing_domain, add_verified_domain

# Each costs from ~0.1 s (Alembic, cryptography) to ~0.5 s (the Qt bindings, an HTTP client).
GUI = ("PySide6",)
HTTP_CLIENTS = ("aiohttp", "httpx", "httpx2", "httpcore2", "h2", "requests")
RELAY = ("aiosmtpd", "dkim", "postdesk.core.relay")
# Small (a few ms each) but paid by every command before: argparse's formatters measured the
# terminal through shutil (with bz2 and lzma). Creating a workspace still uses shutil.
STARTUP_NEVER = ("shutil", "bz2", "lzma")
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
    assert heavy(modules, (*LISTING_NEVER, *STARTUP_NEVER)) == []


@pytest.mark.parametrize("argv", LIGHT_LISTINGS, ids=" ".join)
def test_listings_of_an_up_to_date_workspace_load_no_orm(argv, workspace, tmp_path) -> None:
    modules, output = loaded_by(argv, tmp_path)
    assert json.loads(output)  # it did list
    assert "postdesk.core.store.lite" in modules
    assert heavy(modules, (*LISTING_NEVER, "sqlalchemy", "postdesk.core.store.models")) == []
    if argv[0] == "service":  # services have a view of their own: the other six are not built
        assert "postdesk.core.views" not in modules


def test_a_new_workspace_is_created_without_alembic(postdesk_home: Path, tmp_path: Path) -> None:
    assert not (postdesk_home / "postdesk.db").exists()
    modules, _ = loaded_by(["service", "list", "--json"], tmp_path)
    assert heavy(modules, LISTING_NEVER) == []
    assert (postdesk_home / "postdesk.db").exists()


# What ``check`` of a plain domain (no DKIM key to read, no signed zone, no policy or logo to
# fetch, STARTTLS skipped) has no use for: the workspace, the keyring, SMTP, crypto, XML.
CHECK_NEVER = (
    *GUI,
    *HTTP_CLIENTS,
    "aiosmtpd",
    "alembic",
    "sqlalchemy",
    "postdesk.core.store",
    "keyring",
    "aiosmtplib",
    "postdesk.core.smtptest",
    "cryptography",
    "dns.dnssec",
    "defusedxml",
    # dnspython reads installed packages' metadata to learn which optional ones it may use;
    # dnscheck answers that itself, so importlib.metadata (with email and zipfile) stays out.
    "importlib.metadata._adapters",
    "email",
    "zipfile",
)


@pytest.mark.nsd
def test_check_asks_dns_without_an_http_client(nsd, postdesk_home: Path, tmp_path: Path) -> None:
    """dnspython would import its DNS-over-HTTPS stack; Postdesk asks over UDP and TCP only.
    A domain Postdesk does not manage needs no workspace, so none is opened or created."""
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
    assert heavy(modules, CHECK_NEVER) == []
    assert not (postdesk_home / "postdesk.db").exists()


# What only some domains or options need, loaded where it is used: the STARTTLS prober (the
# run says --no-mx-tls), the HTTPS fetch and the MTA-STS policy reader (no _mta-sts record), IP
# blocklist look-ups (a command of their own) and DKIM key making (not a check's business).
CHECK_ON_DEMAND = (
    "postdesk.core.dnscheck.mxtls",
    "postdesk.core.dnscheck.httpsfetch",
    "postdesk.core.dnscheck.mtastspolicy",
    "postdesk.core.dnscheck.ip",
    "postdesk.core.dkimkeys",
)


@pytest.mark.nsd
def test_check_loads_only_what_the_domain_and_options_need(nsd, tmp_path: Path) -> None:
    nsd.serve(
        {
            "shop.test": """
@ IN MX 10 mx.shop.test.
mx IN A 192.0.2.25
@ IN TXT "v=spf1 include:_spf.esp.shop.test ~all"
_spf.esp IN TXT "v=spf1 ip4:192.0.2.0/24 -all"
_dmarc IN TXT "v=DMARC1; p=quarantine; rua=mailto:dmarc@shop.test"
"""
        }
    )
    modules, output = loaded_by(["check", "shop.test", "--no-mx-tls", "--json"], tmp_path)
    report = json.loads(output)
    kinds = {r["kind"]: r["status"] for r in report["records"]}
    # Every newer standard was still looked at: absent, and STARTTLS not tried.
    assert kinds == {
        "spf": "ok",
        "dmarc": "ok",
        "mx": "ok",
        "mta_sts": "missing",
        "tls_rpt": "missing",
        "bimi": "missing",
        "dnssec": "missing",
        "mx_tls": "error",
    }
    assert "postdesk.core.dnscheck.mtasts" in modules  # the record was asked for
    assert heavy(modules, CHECK_ON_DEMAND) == []


@pytest.mark.nsd
def test_a_published_mta_sts_record_still_loads_its_policy_check(nsd, tmp_path: Path) -> None:
    """The policy host does not exist here: the record is judged as one without a policy."""
    nsd.serve({"shop.test": '_mta-sts IN TXT "v=STSv1; id=20240101"\n@ IN MX 10 mx.shop.test.'})
    modules, output = loaded_by(
        ["check", "shop.test", "--no-mx-tls", "--json"], tmp_path, exit_codes=(1,)
    )
    (sts,) = [r for r in json.loads(output)["records"] if r["kind"] == "mta_sts"]
    assert sts["status"] == "mismatch"
    assert [p["code"] for p in sts["problems"]] == ["mtasts.record_without_policy"]
    assert {"postdesk.core.dnscheck.mtastspolicy", "postdesk.core.dnscheck.httpsfetch"} <= modules
    assert "postdesk.core.dnscheck.mxtls" not in modules


@pytest.mark.nsd
def test_a_check_run_in_process_leaves_the_cycle_collector_working(nsd) -> None:
    """``check`` pauses the collector while it runs; whoever called it still has one after."""
    nsd.serve({"shop.test": '@ IN TXT "v=spf1 -all"'})
    probe = """
import gc, weakref
from postdesk.cli import main
main(["check", "shop.test", "--no-mx-tls", "--json"])
class Node:
    pass
a, b = Node(), Node()
a.other, b.other = b, a
gone = weakref.ref(a)
del a, b
gc.collect()
print(gc.isenabled(), gone() is None)
"""
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split()[-2:] == ["True", "True"]


def test_dnscheck_answers_dnspythons_package_questions_as_the_metadata_would() -> None:
    import dns._features

    from postdesk.core import dnscheck

    (wanted,) = dns._features._requirements["idna"]
    assert dnscheck._idna_2008() is dns._features._version_check(wanted)
    assert dns._features.have("doh") is False and dns._features.have("doq") is False


def test_package_metadata_put_off_by_check_still_works_when_used(tmp_path: Path) -> None:
    """Whatever asks for package metadata after ``check`` has put it off gets the real module."""
    probe = """
import importlib, sys
from postdesk.cli.check import _defer_package_metadata
_defer_package_metadata()
import importlib.metadata as early
assert "importlib.metadata._adapters" not in sys.modules
version = importlib.metadata.version("dnspython")
real = sys.modules["importlib.metadata"]
assert type(real).__name__ == "module" and importlib.metadata is real
assert early.version("dnspython") == version and real.version is early.version
print(version)
"""
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().startswith("2.")


# A test send through a service on an up-to-date SQLite workspace: read with sqlite3, kept with
# sqlite3, the SMTP conversation and the Secret Service — nothing of the store's ORM or the relay,
# and (the Secret Service being named in PYTHON_KEYRING_BACKEND) not the keyring package and its
# entry-point discovery: the secret is read straight from the Secret Service.
KEYRING = ("keyring", "jaraco", "importlib_metadata")
TEST_SEND_NEVER = (
    *GUI,
    *HTTP_CLIENTS,
    *KEYRING,
    "secretstorage",  # the usual read speaks D-Bus itself (core/secretservice.py)
    "cryptography.hazmat.backends",
    "aiosmtpd",
    "alembic",
    "sqlalchemy",
    "postdesk.core.relay",  # last: a signed send loads the relay's signer
)
TEST_SEND = ["test-send", "--service", "Local", "--from", "hello@shop.example"]


def _local_service(store, smtp_server) -> object:  # type: ignore[no-untyped-def]
    server = smtp_server(security="starttls")  # STARTTLS, AUTH required
    form = ServiceForm(
        name="Local",
        host="localhost",
        port=server.port,
        security="starttls",
        username=SMTP_USER,
        password=SMTP_PASSWORD,
    )
    services.add_service(store, form)
    services.pin_certificate(store, "Local", server.fingerprint)  # signed by a test CA
    return server


def test_a_test_send_loads_no_orm(postdesk_home, secret_service, smtp_server, tmp_path) -> None:
    store = open_store()
    server = _local_service(store, smtp_server)
    add_verified_domain(store, "shop.example")
    argv = [*TEST_SEND, "--to", "owner@example.org", "--json"]
    modules, output = loaded_by(argv, tmp_path)
    assert json.loads(output)["ok"] is True
    assert "postdesk.core.store.litewrite" in modules  # it was kept on the light path
    # Nor the read models beyond the service's own (core/serviceview.py).
    never = (
        *TEST_SEND_NEVER,
        *STARTUP_NEVER,
        "dkim",
        "postdesk.core.store.models",
        "postdesk.core.views",
        # Addresses in ASCII need neither an IDNA codec nor the Public Suffix List.
        "idna",
        "publicsuffixlist",
    )
    assert heavy(modules, never) == []
    assert len(server.handler.messages) == 1
    # Kept as the store keeps it: the service's badge, the domain's activity, today's count.
    assert services.get_service(store, "Local").last_test_ok is True
    assert [(r.source, r.status, r.mail_from) for r in activity.search(store)] == [
        ("test", "sent", "hello@shop.example")
    ]
    assert usage.today(store).sent == 1


def test_a_verified_test_send_describes_the_certificate_without_cryptography(
    postdesk_home, secret_service, smtp_server, smtp_pki, tmp_path, monkeypatch
) -> None:
    """A verified session's certificate is described from the ssl module's own decoding."""
    monkeypatch.setenv("SSL_CERT_FILE", smtp_pki.cafile)  # the test CA trusted like a public one
    store = open_store()
    server = smtp_server(security="starttls")
    form = ServiceForm(
        name="Local",
        host="localhost",
        port=server.port,
        security="starttls",
        username=SMTP_USER,
        password=SMTP_PASSWORD,
    )
    services.add_service(store, form)
    add_verified_domain(store, "shop.example")
    modules, output = loaded_by([*TEST_SEND, "--to", "owner@example.org", "--json"], tmp_path)
    tls = json.loads(output)["tls"]
    assert tls["verified"] is True
    assert tls["subject"] == "CN=localhost,O=Postdesk Tests"
    assert tls["names"] == ["localhost", "127.0.0.1"]
    # Nor the locale-aware strptime for the certificate's two dates.
    assert heavy(modules, ("cryptography.x509", "_strptime", *TEST_SEND_NEVER)) == []


def test_a_signed_test_send_loads_dkim_without_an_http_client(
    postdesk_home, secret_service, smtp_server, tmp_path
) -> None:
    store = open_store()
    server = _local_service(store, smtp_server)
    key = add_signing_domain(store, "shop.example")
    modules, output = loaded_by([*TEST_SEND, "--to", "owner@example.org", "--json"], tmp_path)
    assert json.loads(output)["ok"] is True
    assert "dkim" in modules  # it did sign, with the relay's signer and nothing else of it
    relay = sorted(m for m in modules if m.startswith("postdesk.core.relay."))
    assert relay == ["postdesk.core.relay.dkimsign"]
    assert heavy(modules, (*TEST_SEND_NEVER[:-1], "postdesk.core.store.models")) == []
    (received,) = server.handler.messages
    assert f"s={key.selector}".encode() in received.content.split(b"\r\n\r\n")[0]


def _commands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    (subparsers,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return dict(subparsers.choices)


def test_a_command_line_builds_only_its_commands_parser() -> None:
    """Each command parses as it does in the whole parser; the rest are never built."""
    whole = _commands(build_parser())
    for name, parser in whole.items():
        alone = _commands(build_parser(name))
        assert list(alone) == [name]
        assert alone[name].format_help() == parser.format_help()
    # Help, a typo or a module's name that is not a command: the whole list, as always.
    for first in ("--help", "chek", "deliverability", "smtp_user"):
        assert list(_commands(build_parser(first))) == list(whole)
