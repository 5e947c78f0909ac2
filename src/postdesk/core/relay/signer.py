"""Making a message ready to send (tracking, then the DKIM signature), in helper processes
when the relay is busy.

The RSA operation itself lets go of Python's GIL from cryptography 47 on (two threads signing
on 2 CPUs: 0.64 of one thread's time with cryptography 50, 1.06 with 46), but preparing a
message around it (tracking, canonicalization) is Python and holds it, so under load signing in
threads still competes with the event loop that accepts and delivers mail. A busy relay on a
machine with CPUs to spare therefore hands signing to a small pool of processes (started on
first need, warmed up before use); a quiet relay, or one on a small machine, signs in a thread.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import multiprocessing
import os
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from typing import Any

from postdesk.core.relay import dkimsign, rewrite

log = logging.getLogger(__name__)

BUSY_BACKLOG = 16  # messages waiting for signatures before helper processes are started
SPARE_CPUS_NEEDED = 4  # below this, helper processes only take CPU from accepting and sending


def default_processes() -> int:
    """How many helper processes sign when busy: none on a machine with few CPUs.

    Measured on 2 CPUs: the processes' start-up and hand-over cost more than the GIL they free.
    """
    cpus = os.cpu_count() or 1
    return 0 if cpus < SPARE_CPUS_NEEDED else min(4, cpus - 2)


@dataclass(frozen=True)
class Job:
    """Everything needed to prepare one message, as plain values (sent to a helper process)."""

    raw: bytes
    domain: str
    selector: str
    private_pem: str = field(repr=False)
    tracking_base: str | None = None  # None: no tracking for this message
    token: str = ""
    tracking_key: str = field(default="", repr=False)
    track_open: bool = False
    track_click: bool = False


_loaded: dict[tuple[str, str, bytes], dkimsign.SigningKey] = {}  # per process, by PEM digest


def _key(job: Job) -> dkimsign.SigningKey:
    digest = hashlib.sha256(job.private_pem.encode("ascii")).digest()
    found = _loaded.get((job.domain, job.selector, digest))
    if found is None:
        found = dkimsign.load_key(job.domain, job.selector, job.private_pem)
        if len(_loaded) > 64:
            _loaded.clear()
        _loaded[(job.domain, job.selector, digest)] = found
    return found


def run(job: Job, key: dkimsign.SigningKey | None = None) -> bytes:
    """Tracking first (it changes the body), then the DKIM signature over the final bytes."""
    data = job.raw
    if job.tracking_base and (job.track_open or job.track_click):
        data = rewrite.apply_tracking(
            data,
            base=job.tracking_base,
            token=job.token,
            key=job.tracking_key,
            track_open=job.track_open,
            track_click=job.track_click,
        )
    return dkimsign.sign_with(data, key or _key(job))


def _ready() -> int:
    return os.getpid()


class Signers:
    """Signs in a thread while the relay is quiet, in helper processes once it is busy."""

    def __init__(
        self,
        in_thread: Callable[..., asyncio.Future[Any]],
        processes: int | None = None,
    ) -> None:
        self._in_thread = in_thread
        self._processes = default_processes() if processes is None else processes
        self._pool: ProcessPoolExecutor | None = None
        self._ready = False

    @property
    def started(self) -> bool:
        """Whether helper processes were started (the relay got busy)."""
        return self._pool is not None

    @property
    def in_processes(self) -> bool:
        """Whether signatures are made in the helper processes now (started and warmed up)."""
        return self._ready

    def sign(self, job: Job, key: dkimsign.SigningKey, backlog: int) -> asyncio.Future[bytes]:
        """Start preparing a message; ``backlog`` is how many wait for a signature now."""
        if backlog >= BUSY_BACKLOG and self._pool is None and self._processes > 0:
            self._start()
        if not self._ready:
            return self._in_thread(run, job, key)
        return asyncio.ensure_future(self._in_process(job, key))

    async def _in_process(self, job: Job, key: dkimsign.SigningKey) -> bytes:
        assert self._pool is not None
        try:
            return await asyncio.wrap_future(self._pool.submit(run, job))
        except BrokenProcessPool:
            log.warning("a signing process stopped; signing in this process instead")
            self._ready = False
            return await self._in_thread(run, job, key)

    def _start(self) -> None:
        try:
            self._pool = ProcessPoolExecutor(
                self._processes, mp_context=multiprocessing.get_context("spawn")
            )
            warm = [self._pool.submit(_ready) for _ in range(self._processes)]
        except (OSError, RuntimeError) as exc:  # no processes allowed here: keep threads
            log.warning("signing stays in this process: %s", exc)
            return

        def ready(_: object) -> None:
            if all(f.done() and not f.exception() for f in warm):
                self._ready = True

        for future in warm:
            future.add_done_callback(ready)

    def close(self) -> None:
        """Stop the helper processes (signatures still wanted are made in threads)."""
        self._ready = False
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None
