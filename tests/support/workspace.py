"""A workspace (store) for tests, and a verified domain to hang SMTP users on."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from postdesk.core.store import Store, open_store
from postdesk.core.store.models import DedicatedDomain, DkimKey, utcnow


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


def add_signing_domain(store: Store, name: str, service_id: int | None = None) -> Any:
    """A verified domain as Add & Verify leaves it: a real generated DKIM key, kept in the
    keyring, active. Blocking (key generation, keyring): call it in a thread from async code.
    Returns the key pair (``selector``, ``txt_value`` to publish)."""
    from postdesk.core import dkimkeys, secrets

    key = dkimkeys.generate_dkim_key()
    ref = secrets.new_secret_ref("dkim")
    secrets.store_secret(ref, key.private_pem)
    with store.session() as s:
        s.add(
            DedicatedDomain(
                name=name,
                service_id=service_id,
                ownership_token="t",
                status="verified",
                verified_at=utcnow(),
                dkim_selector=key.selector,
                dkim_keys=[
                    DkimKey(
                        selector=key.selector,
                        bits=key.bits,
                        public_key=key.public_b64,
                        secret_ref=ref,
                    )
                ],
            )
        )
    return key


@pytest.fixture
def verified_domain(store: Store) -> str:
    add_verified_domain(store)
    return "example.com"
