"""A real authoritative DNS server (NSD) serving zones the tests write, on a free loopback port.

``nsd.serve({"example.test": "@ TXT \\"v=spf1 -all\\""})`` writes the zones (an SOA and NS are added
when the text has none), (re)starts NSD, waits until it answers and points
``POSTDESK_NAMESERVERS`` at it. Zones named in ``broken=`` are configured without a file, so NSD
answers SERVFAIL for them; a name in no zone at all gets REFUSED.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import dns.exception
import dns.message
import dns.query
import dns.rcode
import pytest

NSD = shutil.which("nsd") or "/usr/sbin/nsd"

_CONF = """server:
    ip-address: 127.0.0.1
    port: {port}
    do-ip6: no
    zonesdir: "{root}"
    pidfile: "{root}/nsd.pid"
    username: ""
    chroot: ""
    database: ""
    zonelistfile: "{root}/zone.list"
    xfrdfile: "{root}/xfrd.state"
    xfrdir: "{root}"
    verbosity: 1
    server-count: 1
    hide-version: yes
remote-control:
    control-enable: no
"""


def zone_text(zone: str, records: str, serial: int = 1) -> str:
    """A zone file: ``records`` (relative names allowed) with an SOA and NS added if missing."""
    if " SOA " in records.upper():
        return records
    return (
        f"$ORIGIN {zone}.\n$TTL 300\n"
        f"@ IN SOA ns.{zone}. hostmaster.{zone}. {serial} 3600 600 86400 300\n"
        f"@ IN NS ns.{zone}.\n"
        + ("" if _defines(records, "ns") else "ns IN A 127.0.0.1\n")
        + records.strip()
        + "\n"
    )


def txt(value: str) -> str:
    """TXT record data for a zone file: ``value`` quoted, in strings of at most 255 bytes."""
    escaped = [value[i : i + 255] for i in range(0, len(value), 255)] or [""]
    return " ".join('"' + part.replace("\\", "\\\\").replace('"', '\\"') + '"' for part in escaped)


def _defines(records: str, name: str) -> bool:
    return any(line.split()[:1] == [name] for line in records.splitlines())


class NsdServer:
    """One NSD process; ``serve()`` replaces all its zones (by restarting, which takes ~50 ms)."""

    def __init__(self, root: Path, port: int | None = None) -> None:
        self.root = root
        from support.services import free_port  # imported late: it is a plugin loaded after this

        self.port = port or free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def address(self) -> str:
        """``127.0.0.1:<port>``, the form POSTDESK_NAMESERVERS takes."""
        return f"127.0.0.1:{self.port}"

    @property
    def servers(self) -> list[tuple[str, int]]:
        return [("127.0.0.1", self.port)]

    def serve(
        self, zones: dict[str, str], *, broken: Sequence[str] = (), serial: int = 1
    ) -> NsdServer:
        """Write ``zones`` (name → records text), restart NSD and wait until it answers."""
        self.stop()
        conf = [_CONF.format(port=self.port, root=self.root)]
        for name, records in zones.items():
            (self.root / f"{name}.zone").write_text(zone_text(name, records, serial))
            conf.append(f'zone:\n    name: "{name}"\n    zonefile: "{name}.zone"\n')
        for name in broken:
            conf.append(f'zone:\n    name: "{name}"\n    zonefile: "{name}.missing"\n')
        config = self.root / "nsd.conf"
        config.write_text("".join(conf))
        check = subprocess.run(["nsd-checkconf", str(config)], capture_output=True, text=True)
        if check.returncode:
            raise RuntimeError(f"nsd.conf rejected: {check.stderr}")
        log = (self.root / "nsd.log").open("ab")
        self.process = subprocess.Popen(
            [NSD, "-d", "-c", str(config)], stdout=log, stderr=log, stdin=subprocess.DEVNULL
        )
        self._wait(next(iter(zones), "."))
        return self

    def _wait(self, zone: str) -> None:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            query = dns.message.make_query(zone, "SOA")
            assert self.process is not None
            if self.process.poll() is not None:
                log = (self.root / "nsd.log").read_text(errors="replace")
                raise RuntimeError(f"nsd exited: {log[-2000:]}")
            try:
                response = dns.query.udp(
                    query, "127.0.0.1", port=self.port, timeout=0.2, ignore_unexpected=True
                )
            except (OSError, dns.exception.DNSException):
                # Not answering yet, or a late answer to an earlier try (NSD being restarted
                # answers the previous query after the new one is sent): ask again.
                time.sleep(0.02)
                continue
            if response.rcode() == dns.rcode.NOERROR or zone == ".":
                return
            time.sleep(0.02)
        raise RuntimeError("nsd did not start answering within 10 s")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        self.process = None


def require_nsd() -> None:
    """Fail (CI) or skip (elsewhere) when NSD is not installed."""
    from support.services import need

    if not os.path.exists(NSD) or not shutil.which("nsd-checkconf"):
        need("NSD", "the nsd package is not installed (apt-get install nsd)")


class NsdFactory:
    """Starts as many NSD servers as a test needs (two for propagation tests)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.monkeypatch = monkeypatch
        self.servers: list[NsdServer] = []

    def new(self) -> NsdServer:
        root = Path(tempfile.mkdtemp(prefix="postdesk-nsd-"))
        server = NsdServer(root)
        self.servers.append(server)
        return server

    def close(self) -> None:
        for server in self.servers:
            server.stop()
            shutil.rmtree(server.root, ignore_errors=True)


class Nsd(NsdServer):
    """The default server of a test: ``serve()`` also points POSTDESK_NAMESERVERS at it."""

    def __init__(self, root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        super().__init__(root)
        self.monkeypatch = monkeypatch

    def serve(
        self, zones: dict[str, str], *, broken: Sequence[str] = (), serial: int = 1
    ) -> NsdServer:
        super().serve(zones, broken=broken, serial=serial)
        self.monkeypatch.setenv("POSTDESK_NAMESERVERS", self.address)
        return self


@pytest.fixture
def nsd(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Nsd]:
    """An NSD server for this test; call ``nsd.serve(zones)`` to load zones and start it."""
    require_nsd()
    root = Path(tempfile.mkdtemp(prefix="postdesk-nsd-"))
    server = Nsd(root, monkeypatch)
    try:
        yield server
    finally:
        server.stop()
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def nsd_factory(monkeypatch: pytest.MonkeyPatch) -> Iterator[NsdFactory]:
    """More NSD servers (not wired to POSTDESK_NAMESERVERS): ``nsd_factory.new().serve(...)``."""
    require_nsd()
    factory = NsdFactory(monkeypatch)
    try:
        yield factory
    finally:
        factory.close()


@pytest.fixture
def silent_dns() -> Iterator[str]:
    """A UDP port that takes DNS questions and never answers (``127.0.0.1:<port>``)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    try:
        yield f"127.0.0.1:{sock.getsockname()[1]}"
    finally:
        sock.close()
