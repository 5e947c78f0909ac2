"""Missing secrets hold mail: never sent without AUTH, never sent without a DKIM signature."""

from __future__ import annotations

import asyncio
import shutil

import pytest

from postdesk.core import secrets
from postdesk.core.config import data_dir
from postdesk.core.relay import dkimsign, queue
from postdesk.core.store.models import DkimKey, SmtpService
from support.relay import DOMAIN, UPSTREAM_PASSWORD, message, wait_until

pytestmark = [pytest.mark.keyring, pytest.mark.nsd]


def _held(world) -> queue.MessageInfo:  # type: ignore[no-untyped-def]
    (info,) = queue.list_messages(world.store)
    return info


def _tried(world) -> bool:  # type: ignore[no-untyped-def]
    return _held(world).attempts >= 1


async def test_a_missing_service_password_holds_mail_instead_of_sending_without_auth(
    relay_world,
):
    world = relay_world
    with world.store.session() as s:
        ref = s.query(SmtpService).one().secret_ref
    assert secrets.delete_secret(ref)
    relay = await world.start_relay()
    code, _ = await asyncio.to_thread(world.send, relay.port, message("held"))
    assert code == 250

    await wait_until(lambda: _tried(world))
    held = _held(world)
    assert held.status == "pending"
    assert "password of the SMTP service 'Sink' is missing from the keyring" in held.last_reply
    assert "re-enter it in SMTP Service → Edit" in (held.last_reply or "")
    # The sink accepts mail without AUTH too: a downgrade would have delivered it.
    assert world.sink.messages == []

    secrets.store_secret(ref, UPSTREAM_PASSWORD)
    assert queue.retry_now(world.store, held.id)
    relay.wake()
    (env,) = await world.sink.await_for(1)
    assert world.dkim_valid(env.content)
    await wait_until(lambda: _held(world).status == "sent")


def _remove_vault(vault_copy) -> None:  # type: ignore[no-untyped-def]
    shutil.copytree(data_dir() / "vault", vault_copy)
    shutil.rmtree(data_dir() / "vault")


@pytest.mark.parametrize("fault", ["keyring item deleted", "vault unreadable"])
async def test_an_unreadable_dkim_key_holds_mail_instead_of_sending_it_unsigned(
    relay_world, tmp_path, fault
):
    world = relay_world
    with world.store.session() as s:
        ref = s.query(DkimKey).one().secret_ref
    pem = secrets.read_secret(ref)
    assert pem
    if fault == "keyring item deleted":
        assert secrets.delete_secret(ref)
    else:  # a 2048-bit key is sealed: its encrypted part lives in the data folder
        _remove_vault(tmp_path / "vault")
    with world.store.session() as s:
        assert not dkimsign.key_available(s, DOMAIN)
        problem = dkimsign.key_problem(s, DOMAIN)
    assert problem is not None and DOMAIN in problem and "Domain Settings" in problem

    relay = await world.start_relay()
    code, _ = await asyncio.to_thread(world.send, relay.port, message("unsigned?"))
    assert code == 250
    await wait_until(lambda: _tried(world))
    held = _held(world)
    assert held.status == "pending"
    assert held.last_reply == problem
    assert world.sink.messages == []

    if fault == "keyring item deleted":
        secrets.store_secret(ref, pem)
    else:
        shutil.copytree(tmp_path / "vault", data_dir() / "vault")
    with world.store.session() as s:
        assert dkimsign.key_available(s, DOMAIN)
    assert queue.retry_now(world.store, held.id)
    relay.wake()
    (env,) = await world.sink.await_for(1)
    assert world.dkim_valid(env.content)
