"""Signing in helper processes gives the same valid DKIM signature as signing in this one."""

from __future__ import annotations

import asyncio

import dkim
import pytest

from postdesk.core import dkimkeys
from postdesk.core.relay import dkimsign, signer

RAW = (
    b"From: shop@example.com\r\nTo: c@client.test\r\nSubject: Your order\r\n"
    b"Date: Sun, 29 Nov 2026 10:00:00 +0000\r\nMessage-ID: <1@example.com>\r\n\r\n"
    b"Thank you for your order.\r\n"
)


@pytest.fixture(scope="module")
def key() -> tuple[dkimsign.SigningKey, bytes]:
    generated = dkimkeys.generate_dkim_key()
    loaded = dkimsign.load_key("example.com", generated.selector, generated.private_pem)
    return loaded, generated.txt_value.encode()


def _valid(signed: bytes, txt: bytes) -> bool:
    return bool(dkim.verify(signed, dnsfunc=lambda name, timeout=5: txt))


async def test_a_busy_relay_signs_in_helper_processes_with_valid_signatures(key) -> None:
    loaded, txt = key
    job = signer.Job(RAW, "example.com", loaded.selector, loaded.private_pem)

    def in_thread(fn, *args):  # type: ignore[no-untyped-def]
        return asyncio.get_running_loop().run_in_executor(None, fn, *args)

    signers = signer.Signers(in_thread, processes=1)
    try:
        quiet = await signers.sign(job, loaded, backlog=0)
        assert not signers.started  # a quiet relay starts no process
        assert _valid(quiet, txt)
        for _ in range(200):  # busy: the helper starts, and is used once it is ready
            signed = await signers.sign(job, loaded, backlog=signer.BUSY_BACKLOG)
            assert _valid(signed, txt)
            if signers.in_processes:
                break
            await asyncio.sleep(0.1)
        assert signers.in_processes
        signed = await signers.sign(job, loaded, backlog=signer.BUSY_BACKLOG)
        assert _valid(signed, txt)
    finally:
        signers.close()
