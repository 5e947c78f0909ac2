"""Add & Verify end to end: the CLI generates records, they are published in NSD, Verify Now passes.

The records come from `postdesk domain records --format json|zone`, exactly as a user copies them.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from postdesk.core import credentials, domains, services
from postdesk.core.services import ServiceForm
from support.nsd import txt

pytestmark = pytest.mark.nsd

MAILER = 'spf IN TXT "v=spf1 ip4:192.0.2.0/24 -all"\n'
EXISTING = '@ IN TXT "v=spf1 ip4:198.51.100.7 -all"\n@ IN MX 10 mail.shop.test.\n'


def postdesk(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "postdesk", *args],
        env=dict(os.environ),
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
    )


def publish(records: list[dict], skip: str = "") -> str:
    """Zone lines for the records a user was asked to publish (relative to shop.test)."""
    lines = []
    for record in records:
        if record["kind"] == skip or not record["required"]:
            continue
        host = record["host"].removesuffix("shop.test").rstrip(".") or "@"
        value = txt(record["value"]) if record["type"] == "TXT" else record["value"] + "."
        lines.append(f"{host} IN {record['type']} {value}")
    return "\n".join(lines) + "\nmail IN A 192.0.2.30\n"


def test_add_publish_verify_then_smtp_users(store, secret_service, nsd) -> None:
    nsd.serve({"shop.test": EXISTING + "mail IN A 192.0.2.30\n", "mailer.test": MAILER})
    services.add_service(
        store,
        ServiceForm(
            name="Mailer",
            host="smtp.mailer.test",
            port=587,
            security="starttls",
            username="u",
            password="p",
            spf_include="spf.mailer.test",
        ),
    )

    added = postdesk("domain", "add", "  Shop.TEST. ", "--json")
    assert added.returncode == 0, added.stderr
    assert json.loads(added.stdout)["domain"] == "shop.test"

    shown = json.loads(postdesk("domain", "records", "shop.test", "--format", "json").stdout)
    by_kind = {r["kind"]: r for r in shown["records"]}
    # the existing SPF record is merged into one, keeping its mechanisms and its -all
    assert by_kind["spf"]["value"] == "v=spf1 ip4:198.51.100.7 include:spf.mailer.test -all"
    assert by_kind["dkim"]["host"].endswith("._domainkey.shop.test")
    assert len(by_kind["dkim"]["value"]) > 255  # one unsplit string in JSON

    zone = postdesk("domain", "records", "shop.test", "--format", "zone").stdout
    assert '" "' in zone  # the long DKIM value is split into quoted strings for BIND

    # Published without DKIM: Verify Now explains what is missing and exits non-zero.
    nsd.serve(
        {"shop.test": publish(shown["records"], skip="dkim"), "mailer.test": MAILER}, serial=2
    )
    failing = postdesk("domain", "verify", "shop.test", "--json")
    assert failing.returncode == 1
    report = json.loads(failing.stdout)
    assert report["status"] == "failing"
    dkim = next(r for r in report["records"] if r["kind"] == "dkim")
    assert dkim["status"] == "missing"
    assert [p["code"] for p in dkim["problems"]] == ["dkim.missing"]
    assert credentials.can_create(store, "shop.test") is not None

    nsd.serve({"shop.test": publish(shown["records"]), "mailer.test": MAILER}, serial=3)
    verified = postdesk("domain", "verify", "shop.test", "--json")
    assert verified.returncode == 0, verified.stdout
    assert json.loads(verified.stdout)["status"] == "verified"
    assert domains.list_domains(store)[0].status == "verified"
    assert len(domains.check_history(store, "shop.test")) == 2

    made = credentials.create_smtp_user(store, "shop.test", "shop")
    assert made.username == "shop@shop.test"


def test_bad_domain_input_is_one_line_with_a_hint(store) -> None:
    done = postdesk("domain", "add", "https://shop.example.com/store")
    assert done.returncode == 1
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr
    assert "example.com" in done.stderr
