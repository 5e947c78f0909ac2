"""Add & Verify end to end: the CLI generates records, they are published in NSD, Verify Now passes.

The records come from `postdesk domain records --format json|zone`, exactly as a user copies them.
"""

from __future__ import annotations

import asyncio
import json

import pytest
from sqlalchemy import select

from postdesk.core import credentials, domains, services
from postdesk.core.services import ServiceForm
from support.cli import postdesk
from support.nsd import txt

pytestmark = pytest.mark.nsd

MAILER = 'spf IN TXT "v=spf1 ip4:192.0.2.0/24 -all"\n'
EXISTING = '@ IN TXT "v=spf1 ip4:198.51.100.7 -all"\n@ IN MX 10 mail.shop.test.\n'


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


# --- what Verify Now must never call verified, and what it must never break ----------------


def shop_published(store, nsd, *, spf_include: str | None, apex: str = "") -> None:  # type: ignore[no-untyped-def]
    """shop.test added through a service, with every record it was asked for published."""
    services.add_service(
        store,
        ServiceForm(
            name="Mailer",
            host="smtp.mailer.test",
            port=587,
            security="starttls",
            username="u",
            password="p",
            spf_include=spf_include,
        ),
    )
    nsd.serve({"shop.test": "mail IN A 192.0.2.30\n", "mailer.test": MAILER})
    asyncio.run(domains.add_domain(store, "shop.test"))
    _, records = domains.expected_records(store, "shop.test")
    zone = publish([r.as_dict() for r in records]) + apex
    nsd.serve({"shop.test": zone, "mailer.test": MAILER}, serial=2)


def problem_codes(report: dict, kind: str) -> list[str]:
    return [p["code"] for r in report["records"] if r["kind"] == kind for p in r["problems"]]


def test_two_spf_records_at_the_apex_are_never_verified(store, secret_service, nsd) -> None:
    two = '@ IN TXT "v=spf1 ip4:192.0.2.1 ~all"\n@ IN TXT "v=spf1 ip4:192.0.2.2 -all"\n'
    shop_published(store, nsd, spf_include=None, apex=two)

    done = postdesk("domain", "verify", "shop.test", "--json")
    assert done.returncode == 1, done.stdout
    report = json.loads(done.stdout)
    assert (report["status"], report["domain_status"]) == ("failing", "failing")
    assert "spf.multiple" in problem_codes(report, "spf")
    assert "spf.include_unknown" in problem_codes(report, "spf")  # with the fix to run
    assert "postdesk service edit Mailer --spf-include" in done.stdout
    assert domains.list_domains(store)[0].status == "failing"

    text = postdesk("domain", "verify", "shop.test")
    assert text.returncode == 1
    assert "Result: failing" in text.stdout and "[error] spf.multiple (shop.test)" in text.stdout

    checked = postdesk("check", "shop.test", "--json")  # the same evaluation
    assert "spf.multiple" in problem_codes(json.loads(checked.stdout), "spf")

    nsd.serve(
        {"shop.test": publish_current(store) + '@ IN TXT "v=spf1 ip4:192.0.2.1 ~all"\n'},
        serial=3,
    )
    fixed = postdesk("domain", "verify", "shop.test", "--json")
    assert fixed.returncode == 0, fixed.stdout
    assert json.loads(fixed.stdout)["status"] == "verified"


def publish_current(store) -> str:  # type: ignore[no-untyped-def]
    _, records = domains.expected_records(store, "shop.test")
    return publish([r.as_dict() for r in records])


def test_a_dns_outage_changes_no_status(store, secret_service, nsd, monkeypatch) -> None:
    from support.services import free_port

    shop_published(store, nsd, spf_include="spf.mailer.test")
    assert postdesk("domain", "verify", "shop.test").returncode == 0
    monkeypatch.setenv("POSTDESK_NAMESERVERS", f"127.0.0.1:{free_port()}")  # nobody listens

    done = postdesk("domain", "verify", "shop.test", "--json")
    assert done.returncode == 1 and "Traceback" not in done.stderr
    report = json.loads(done.stdout)
    assert (report["status"], report["domain_status"]) == ("error", "verified")
    statuses = {r["kind"]: r["status"] for r in report["records"]}
    assert [statuses[k] for k in ("ownership", "spf", "dkim", "dmarc")] == ["error"] * 4

    assert domains.list_domains(store)[0].status == "verified"
    assert [c.status for c in domains.check_history(store, "shop.test")] == ["error", "verified"]
    made = credentials.create_smtp_user(store, "shop.test", "shop")  # not refused
    assert made.username == "shop@shop.test"


@pytest.mark.parametrize("lost", ["keyring item", "sealed file"])
def test_verify_fails_when_the_dkim_private_key_is_gone(
    store, secret_service, nsd, postdesk_home, lost: str
) -> None:
    from postdesk.core import secrets
    from postdesk.core.store.models import DkimKey

    shop_published(store, nsd, spf_include="spf.mailer.test")
    assert postdesk("domain", "verify", "shop.test").returncode == 0
    if lost == "keyring item":
        with store.session() as s:
            ref = s.scalars(select(DkimKey.secret_ref)).one()
        assert secrets.delete_secret(ref)
    else:  # a 2048-bit key is too long for some keyrings, so its encrypted part is a file
        sealed = list((postdesk_home / "vault").glob("*.sealed"))
        assert len(sealed) == 1
        sealed[0].unlink()

    done = postdesk("domain", "verify", "shop.test", "--json")
    assert done.returncode == 1, done.stdout
    report = json.loads(done.stdout)
    assert report["status"] == "failing"
    dkim = next(r for r in report["records"] if r["kind"] == "dkim")
    assert dkim["status"] == "ok"  # the published record is fine; the private half is not
    unreadable = next(p for p in dkim["problems"] if p["code"] == "dkim.key_unreadable")
    assert "Generate new key" in unreadable["fix"]
    assert domains.list_domains(store)[0].status == "failing"
    assert credentials.can_create(store, "shop.test") is not None


def test_a_hidden_character_is_refused_by_verify_as_by_add(store) -> None:
    added = postdesk("domain", "add", "sh\u200bop.test")
    verified = postdesk("domain", "verify", "sh\u200bop.test")
    assert added.returncode == verified.returncode == 1
    assert verified.stderr == added.stderr
    assert "U+200B" in verified.stderr and verified.stderr.count("\n") == 1


@pytest.mark.parametrize("selector", ["x" * 64, "a..b", "", "s1\r\nX-Forged: yes", "s_1"])
def test_a_bad_dkim_selector_is_a_usage_error(selector: str) -> None:
    done = postdesk("check", "shop.test", "--dkim-selector", selector)
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr
    assert "\r" not in done.stderr and "selector" in done.stderr
    assert done.stdout == ""


def test_a_selector_is_an_error_never_missing_while_dns_is_down(monkeypatch) -> None:
    from support.services import free_port

    monkeypatch.setenv("POSTDESK_NAMESERVERS", f"127.0.0.1:{free_port()}")
    done = postdesk("check", "shop.test", "--dkim-selector", "s1", "--json")
    assert done.returncode == 1
    report = json.loads(done.stdout)
    assert report["status"] == "error"
    dkim = next(r for r in report["records"] if r["kind"] == "dkim")
    assert (dkim["host"], dkim["status"]) == ("s1._domainkey.shop.test", "error")


def test_domain_list_shows_the_service_of_each_domain(store, secret_service, nsd) -> None:
    shop_published(store, nsd, spf_include="spf.mailer.test")
    table = postdesk("domain", "list")
    assert table.returncode == 0, table.stderr
    assert "shop.test" in table.stdout and "Mailer" in table.stdout
    listed = postdesk("domain", "list", "--json")
    assert json.loads(listed.stdout)["domains"][0]["service"] == "Mailer"


def test_add_and_verify_keep_the_store_and_keyring_off_the_event_loop(
    store, secret_service, nsd, monkeypatch
) -> None:
    import threading

    from postdesk.core import secrets

    shop_published(store, nsd, spf_include="spf.mailer.test")
    domains.remove_domain(store, "shop.test")  # added again below, watched this time
    threads: list[str] = []

    def recorded(fn):  # type: ignore[no-untyped-def]
        def call(*args, **kwargs):  # type: ignore[no-untyped-def]
            threads.append(threading.current_thread().name)
            return fn(*args, **kwargs)

        return call

    monkeypatch.setattr(store, "session", recorded(store.session))
    for name in ("read_secret", "store_secret", "delete_secret"):
        monkeypatch.setattr(secrets, name, recorded(getattr(secrets, name)))
    asyncio.run(domains.add_domain(store, "shop.test"))
    added = len(threads)
    assert added >= 3  # the duplicate check, the service, the key, the new rows
    asyncio.run(domains.verify_domain(store, "shop.test"))
    assert len(threads) >= added + 3  # read the domain, read the key, store the result
    assert threading.main_thread().name not in threads
