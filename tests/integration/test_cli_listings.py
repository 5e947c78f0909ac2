"""The listing commands on a populated workspace, through the real CLI in a subprocess.

A domain that sends through a service once made ``domain list`` crash with a traceback: core
returned rows whose relations could no longer be loaded. Each listing here runs against a
workspace where every relation is filled — a service used by a domain, a domain with records,
keys and SMTP users, an IP — and must answer, as a table and as JSON, without a traceback.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from postdesk.core import credentials, domains, ips, services
from postdesk.core.services import ServiceForm
from support.cli import ok, postdesk
from support.workspace import add_verified_domain


@pytest.fixture
def workspace(store, secret_service, postdesk_home: Path, monkeypatch) -> Path:
    """A service used by two domains (one added by Add & Verify), a login and an IP."""

    async def nothing_published(name: str) -> tuple[None, None]:
        return None, None  # no public DNS in tests: Postdesk proposes fresh records

    monkeypatch.setattr(domains, "published_policies", nothing_published)
    mailer = services.add_service(
        store,
        ServiceForm(
            name="Mailer",
            host="smtp.mailer.test",
            port=587,
            security="starttls",
            username="u",
            password="service-password-1",
            spf_include="spf.mailer.test",
        ),
    )
    add_verified_domain(store, "shop.test", mailer.id)
    asyncio.run(domains.add_domain(store, "news.test", service_name="Mailer"))
    credentials.create_smtp_user(store, "shop.test", "orders")
    ips.add_ip(store, "203.0.113.25", "main")
    return postdesk_home


def test_domain_list_shows_the_service_a_domain_sends_through(workspace) -> None:
    table = ok("domain", "list")
    assert "shop.test" in table and "news.test" in table
    assert "Mailer" in table

    listed = json.loads(ok("domain", "list", "--json"))
    by_name = {d["domain"]: d for d in listed["domains"]}
    assert by_name["shop.test"]["service"] == "Mailer"
    assert by_name["shop.test"]["status"] == "verified"
    assert by_name["news.test"]["service"] == "Mailer"
    assert by_name["news.test"]["status"] == "pending"


def test_service_list_with_a_service_in_use(workspace) -> None:
    assert "Mailer" in ok("service", "list")
    (service,) = json.loads(ok("service", "list", "--json"))["services"]
    assert (service["name"], service["host"], service["default"]) == (
        "Mailer",
        "smtp.mailer.test",
        True,
    )


def test_a_service_in_use_is_not_removed_and_says_by_whom(workspace) -> None:
    done = postdesk("service", "remove", "Mailer")
    assert done.returncode != 0
    assert "Traceback" not in done.stderr
    assert "news.test" in done.stderr and "shop.test" in done.stderr
    assert "Mailer" in ok("service", "list")


def test_smtp_user_list_with_a_login(workspace) -> None:
    assert "orders@shop.test" in ok("smtp-user", "list", "shop.test")
    listed = json.loads(ok("smtp-user", "list", "shop.test", "--json"))
    assert [u["username"] for u in listed["smtp_users"]] == ["orders@shop.test"]
    assert listed["smtp_users"][0]["last_used_at"] is None


def test_ip_list_with_an_address(workspace) -> None:
    table = ok("ip", "list")
    assert "203.0.113.25" in table and "main" in table
    (ip,) = json.loads(ok("ip", "list", "--json"))["ips"]
    assert (ip["address"], ip["label"], ip["status"]) == ("203.0.113.25", "main", None)


def test_records_and_removal_of_a_domain_with_keys_and_records(workspace) -> None:
    records = ok("domain", "records", "news.test", "--format", "json")
    assert "spf.mailer.test" in records
    ok("domain", "remove", "news.test")
    remaining = json.loads(ok("domain", "list", "--json"))["domains"]
    assert [d["domain"] for d in remaining] == ["shop.test"]
