"""A UDP proxy that holds every DNS packet for a fixed time each way, to imitate a distant server.

On loopback a DNS round trip costs ~0.1 ms, which hides the difference between asking questions one
after another and all at once. ``DelayProxy(upstream, delay=0.010)`` forwards to ``upstream`` and
adds ``delay`` seconds on the way there and again on the way back. It runs its own event loop in a
thread, so blocking clients in the main thread (like checkdmarc) can use it too.
``delay_proxy_process()`` runs it in a process of its own, so that neither side's Python work
delays the other's packets (which a shared interpreter lock would).
"""

from __future__ import annotations

import asyncio
import itertools
import struct
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest


class _Relay(asyncio.DatagramProtocol):
    """Rewrites query ids so that concurrent clients with equal ids can't be confused."""

    def __init__(self, proxy: DelayProxy) -> None:
        self.proxy = proxy
        self.ids = itertools.count(1)
        self.pending: dict[int, tuple[Any, bytes]] = {}
        self.transport: asyncio.DatagramTransport | None = None
        self.upstream: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: Any) -> None:
        if len(data) < 12:
            return
        new_id = next(self.ids) % 65536
        self.pending[new_id] = (addr, data[:2])
        packet = struct.pack("!H", new_id) + data[2:]
        loop = asyncio.get_running_loop()
        loop.call_later(self.proxy.delay, self._send_up, packet)

    def _send_up(self, packet: bytes) -> None:
        if self.upstream is not None:
            self.upstream.sendto(packet)

    def answer(self, data: bytes) -> None:
        if len(data) < 12:
            return
        (reply_id,) = struct.unpack("!H", data[:2])
        client = self.pending.pop(reply_id, None)
        if client is None:
            return
        addr, original_id = client
        loop = asyncio.get_running_loop()
        loop.call_later(self.proxy.delay, self._send_down, original_id + data[2:], addr)

    def _send_down(self, packet: bytes, addr: Any) -> None:
        if self.transport is not None:
            self.transport.sendto(packet, addr)


class _Upstream(asyncio.DatagramProtocol):
    def __init__(self, relay: _Relay) -> None:
        self.relay = relay

    def datagram_received(self, data: bytes, addr: Any) -> None:
        self.relay.answer(data)


class DelayProxy:
    """Forward UDP DNS from ``(host, port)`` to ``upstream`` with ``delay`` seconds each way."""

    def __init__(
        self,
        upstream: tuple[str, int],
        *,
        delay: float = 0.010,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self.upstream = upstream
        self.delay = delay
        self.host = host
        self.port = port
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._stop: asyncio.Event | None = None
        self._error: BaseException | None = None

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    def start(self) -> DelayProxy:
        self._thread = threading.Thread(target=self._run, name="dns-delay-proxy", daemon=True)
        self._thread.start()
        self._ready.wait(10)
        if self._error is not None:
            raise self._error
        return self

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        try:
            loop.run_until_complete(self._serve())
        except BaseException as err:  # reported to the starting thread
            self._error = err
            self._ready.set()
        finally:
            loop.close()

    async def _serve(self) -> None:
        loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        relay = _Relay(self)
        front, _ = await loop.create_datagram_endpoint(
            lambda: relay, local_addr=(self.host, self.port)
        )
        back, _ = await loop.create_datagram_endpoint(
            lambda: _Upstream(relay), remote_addr=self.upstream
        )
        relay.upstream = back
        self.port = front.get_extra_info("sockname")[1]
        self._ready.set()
        try:
            await self._stop.wait()
        finally:
            front.close()
            back.close()

    def stop(self) -> None:
        if self._loop is not None and self._stop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._stop.set)
        if self._thread is not None:
            self._thread.join(5)

    def __enter__(self) -> DelayProxy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


@pytest.fixture
def dns_delay() -> Iterator[type[DelayProxy]]:
    """The proxy class, for tests that need a slow DNS server (``with dns_delay(...) as p:``)."""
    yield DelayProxy


@contextmanager
def delay_proxy_process(upstream: tuple[str, int], *, delay: float = 0.010) -> Iterator[int]:
    """Run the proxy in a child process; yields its port. It exits when this context ends."""
    child = subprocess.Popen(
        [sys.executable, __file__, upstream[0], str(upstream[1]), str(delay)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout is not None
        line = child.stdout.readline()
        if not line.startswith("port "):
            raise RuntimeError("the DNS delay proxy did not start")
        yield int(line.split()[1])
    finally:
        if child.stdin is not None:
            child.stdin.close()  # the child stops when its stdin closes
        try:
            child.wait(5)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait(5)


def _main(argv: list[str]) -> None:
    host, port, delay = argv[0], int(argv[1]), float(argv[2])
    with DelayProxy((host, port), delay=delay) as proxy:
        print(f"port {proxy.port}", flush=True)
        sys.stdin.read()  # until the parent closes the pipe (or dies)


if __name__ == "__main__":
    _main(sys.argv[1:])
