"""Delivery in a process of its own, beside the process that accepts (``postdesk relay``).

Under load, accepting (SMTP sessions and their group commits) and delivering (claims, DKIM
signatures, upstream sessions, outcomes) each keep about one CPU busy, and in one process they
share one GIL: whichever waits for it adds to what a sending app waits for its 250. In two
processes each has a CPU to itself.

The two share the database, where the queue already is, and two pipes:
- to the delivery process, a byte each time a message was queued (look at the queue now);
- from it, the queue's counts by status, for the relay's status.
When its pipe closes the delivery process stops as the in-process worker does (finish what is
being sent, give the rest back): the relay closes it to stop it, and a relay that dies, even by
SIGKILL, closes it too, so the delivery process never outlives it. The relay starts it again if
it ends unasked; what it had claimed is claimed again when its lease runs out (see ``worker``).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import multiprocessing
import os
import signal
import threading
import time
from multiprocessing.connection import Connection
from typing import Any

from postdesk.core.relay.options import RelayOptions, default_worker_id, tracking_base
from postdesk.core.relay.worker import COUNTS_EVERY, STOP_GRACE, Worker

log = logging.getLogger(__name__)

WAKE = b"w"
# Seconds before a delivery process that ended unasked is started again: doubled each time one
# ends within SHORT_LIFE of its start (it cannot start: say so rarely, not every second).
RESTART_AFTER = 1.0
RESTART_MOST = 60.0
SHORT_LIFE = 10.0


class DeliveryProcess:
    """The relay's side: starts the delivery process, wakes it, keeps its counts, stops it."""

    def __init__(self, options: RelayOptions, tracking_port: int | None) -> None:
        self.options = options
        self.tracking_port = tracking_port
        self.counts: dict[str, int] = {}
        self.started = 0  # processes started so far (a restart adds one)
        self._process: Any = None
        self._wake: Connection | None = None
        self._stopping = False
        self._restart: asyncio.TimerHandle | None = None
        self._started_at = 0.0
        self._restart_after = RESTART_AFTER

    @property
    def pid(self) -> int | None:
        """The delivery process's id while it runs."""
        process = self._process
        return process.pid if process is not None and process.is_alive() else None

    def start(self) -> None:
        """Start the process (its imports take a moment; messages wait in the queue)."""
        loop = asyncio.get_running_loop()
        context = multiprocessing.get_context("spawn")
        wake_read, wake_write = context.Pipe(duplex=False)
        counts_read, counts_write = context.Pipe(duplex=False)
        process = context.Process(
            target=_main,
            args=(wake_read, counts_write, self.options, self.tracking_port),
            name="postdesk-delivery",
            daemon=True,
        )
        process.start()
        # The child holds its own copies now; ours must close, or its end never sees EOF.
        wake_read.close()
        counts_write.close()
        with contextlib.suppress(OSError, ValueError):
            os.set_blocking(wake_write.fileno(), False)  # a full pipe already holds a wake
        self._process, self._wake = process, wake_write
        self._started_at = time.monotonic()
        self.started += 1
        threading.Thread(
            target=self._listen,
            args=(counts_read, process, loop),
            name="postdesk-delivery-counts",
            daemon=True,
        ).start()

    def wake(self) -> None:
        """Tell the delivery process a message was queued (never blocks)."""
        if self._wake is None:
            return
        with contextlib.suppress(OSError):  # full (it has wakes to read) or ended (restarting)
            self._wake.send_bytes(WAKE)

    def _listen(self, counts: Connection, process: Any, loop: asyncio.AbstractEventLoop) -> None:
        """The counts as they come; when the pipe closes, the process has ended."""
        while True:
            try:
                received = counts.recv()
            except (EOFError, OSError):
                break
            with contextlib.suppress(RuntimeError):  # the loop closed: the relay is gone
                loop.call_soon_threadsafe(self._set_counts, received)
        counts.close()
        process.join(5)
        with contextlib.suppress(RuntimeError):
            loop.call_soon_threadsafe(self._ended, process)

    def _set_counts(self, counts: dict[str, int]) -> None:
        self.counts = counts

    def _ended(self, process: Any) -> None:
        if self._stopping or process is not self._process:
            return
        if time.monotonic() - self._started_at < SHORT_LIFE:
            self._restart_after = min(self._restart_after * 2, RESTART_MOST)
        else:
            self._restart_after = RESTART_AFTER
        log.warning(
            "the delivery process ended (exit status %s); starting it again in %g s",
            process.exitcode,
            self._restart_after,
        )
        self._close_wake()
        self._restart = asyncio.get_running_loop().call_later(
            self._restart_after, self._start_again
        )

    def _start_again(self) -> None:
        self._restart = None
        if not self._stopping:
            try:
                self.start()
            except OSError:
                log.exception("could not start the delivery process again")

    def _close_wake(self) -> None:
        if self._wake is not None:
            self._wake.close()
            self._wake = None

    async def stop(self, grace: float = STOP_GRACE) -> None:
        """Let the messages being sent finish, have the rest given back, and wait for the end."""
        self._stopping = True
        if self._restart is not None:
            self._restart.cancel()
            self._restart = None
        process = self._process
        self._close_wake()  # its end reads what is left, then the end of the pipe: it stops
        if process is None:
            return
        await asyncio.to_thread(process.join, grace + 5)  # its worker's grace, and its exit
        if process.is_alive():  # it did not finish: its claims come back when their lease ends
            log.warning("the delivery process did not stop in time; ending it")
            process.kill()
            await asyncio.to_thread(process.join, 5)
        self._process = None


def _main(
    wake: Connection, counts: Connection, options: RelayOptions, tracking_port: int | None
) -> None:
    """The delivery process: deliver until told to stop or until the relay is gone."""
    from postdesk.core.logs import setup_logging
    from postdesk.core.store import open_store

    # Ctrl-C in a terminal reaches every process of the group; the relay decides when this
    # one stops (after its own listeners closed), and tells it.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    setup_logging()
    store = open_store(migrate=False)  # the relay migrated it before starting this process
    try:
        asyncio.run(_deliver(store, wake, counts, options, tracking_port))
    finally:
        store.close()


async def _deliver(
    store: Any,
    wake: Connection,
    counts: Connection,
    options: RelayOptions,
    tracking_port: int | None,
) -> None:
    # Its own name in the queue: a process started again must not take its predecessor's
    # claims for its own before their lease ends (the predecessor may still be sending them).
    options = dataclasses.replace(options, worker_id=default_worker_id())
    worker = Worker(
        store, options, tracking_base=lambda host: tracking_base(options, tracking_port, host)
    )
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()

    def listen() -> None:
        while True:
            try:
                what = wake.recv_bytes()
            except (EOFError, OSError):  # the relay stops, or is gone
                break
            if what == WAKE:
                loop.call_soon_threadsafe(worker.wake.set)
        loop.call_soon_threadsafe(stop.set)

    threading.Thread(target=listen, name="postdesk-delivery-wake", daemon=True).start()
    worker.start()
    sent: dict[str, int] | None = None
    while not stop.is_set():
        if worker.counts != sent:
            sent = dict(worker.counts)
            try:
                counts.send(sent)
            except OSError:  # the relay is gone
                break
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), COUNTS_EVERY)
    await worker.stop()
