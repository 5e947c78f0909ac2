"""A workspace (store) for tests, and a verified domain to hang SMTP users on."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from postdesk.core.store import Store, open_store
from postdesk.core.store.models import DedicatedDomain, utcnow


@pytest.fixture
def store(postdesk_home) -> Iterator[Store]:
    opened = open_store()
    yield opened
    opened.close()


def add_verified_domain(
    store: Store, name: str = "example.com", service_id: int | None = None
) -> None:
    """A domain whose DNS checks passed (the checks themselves are tested against NSD)."""
    with store.session() as s:
        s.add(
            DedicatedDomain(
                name=name,
                ownership_token="t",
                status="verified",
                verified_at=utcnow(),
                service_id=service_id,
            )
        )


@pytest.fixture
def verified_domain(store: Store) -> str:
    add_verified_domain(store)
    return "example.com"
