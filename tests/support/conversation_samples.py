"""Received messages filed into Conversations: the sample mails and a store on either database."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from postdesk.core.store import Store, open_store
from postdesk.core.store.models import DedicatedDomain, utcnow

INBOUND = Path(__file__).parent.parent / "fixtures" / "inbound"

FileSample = Callable[..., int]


def sample(name: str) -> bytes:
    """A sample message from tests/fixtures/inbound."""
    return (INBOUND / name).read_bytes()


@pytest.fixture(params=["sqlite", "postgres"])
def conversations_store(request, monkeypatch: pytest.MonkeyPatch) -> Iterator[Store]:
    """A new workspace with the verified domain example.com receiving mail, on each database."""
    if request.param == "postgres":
        monkeypatch.setenv("POSTDESK_DATABASE_URL", request.getfixturevalue("postgres_url"))
    store = open_store()
    with store.session() as s:
        s.add(
            DedicatedDomain(
                name="example.com",
                ownership_token="t",
                status="verified",
                verified_at=utcnow(),
                reception=True,
            )
        )
    yield store
    store.close()


@pytest.fixture
def file_sample(conversations_store: Store) -> FileSample:
    """Files a sample (by file name, or raw bytes) for example.com as the inbound server does."""
    from postdesk.core.conversations import file_inbound

    def file(what: str | bytes, *, verdicts: dict[str, str] | None = None, **kw: object) -> int:
        raw = sample(what) if isinstance(what, str) else what
        with conversations_store.session() as s:
            domain_id = s.query(DedicatedDomain.id).filter_by(name="example.com").scalar()
            return file_inbound(
                s,
                domain_id=domain_id,
                raw=raw,
                mail_from=str(kw.get("mail_from", "sender@elsewhere.example")),
                rcpt_tos=["support@example.com"],
                remote_ip="192.0.2.25",
                helo="mail.elsewhere.example",
                verdicts=verdicts or {"spf": "pass", "dkim": "pass", "dmarc": "pass"},
                auth_results="mx.example.com; spf=pass; dkim=pass; dmarc=pass",
                direction=str(kw.get("direction", "in")),
            )

    return file
