"""Real services for the tests: the Secret Service (gnome-keyring) and PostgreSQL.

When ``CI`` is set a missing service fails the run; on a developer machine it skips the test.
"""

from __future__ import annotations

import os
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest


def need(what: str, why: str) -> None:
    """Fail (in CI) or skip (elsewhere) because a real service is missing."""
    message = f"{what} is not available: {why}"
    if os.environ.get("CI"):
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


def _ephemeral_range() -> tuple[int, int]:
    try:
        low, high = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
        return int(low), int(high)
    except (OSError, ValueError):
        return 32768, 60999


_handed_out: set[int] = set()


def free_port() -> int:
    """A loopback port nothing listens on, for a server a test starts a moment later.

    Picked below the kernel's ephemeral range: a port from that range can be taken by any
    outgoing connection (to the SMTP sink, to PostgreSQL, ...) between the pick and the bind.
    """
    low, _high = _ephemeral_range()
    start = max(1024, low - 20000)
    rng = random.Random()
    for _ in range(200):
        port = rng.randrange(start, low)
        if port in _handed_out:
            continue
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
        _handed_out.add(port)
        return port
    with socket.socket() as s:  # a crowded machine: fall back to the kernel's choice
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(autouse=True)
def postdesk_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test gets its own data dir and SQLite database; nothing leaks between tests."""
    home = tmp_path / "postdesk-home"
    monkeypatch.setenv("POSTDESK_HOME", str(home))
    monkeypatch.delenv("POSTDESK_DATABASE_URL", raising=False)
    return home


# --- Secret Service -------------------------------------------------------------------------


@contextmanager
def secret_service_daemon() -> Iterator[str]:
    """A private D-Bus session bus with an unlocked gnome-keyring on it; yields the bus address."""
    for tool in ("dbus-daemon", "gnome-keyring-daemon"):
        if not shutil.which(tool):
            need("The Secret Service", f"{tool} is not installed (run scripts/test to install it)")
    root = Path(tempfile.mkdtemp(prefix="postdesk-keyring-"))
    env = {
        **os.environ,
        "HOME": str(root),
        "XDG_DATA_HOME": str(root / "data"),
        "XDG_RUNTIME_DIR": str(root / "run"),
    }
    (root / "run").mkdir(mode=0o700)
    bus = subprocess.run(
        ["dbus-daemon", "--session", "--fork", "--nopidfile", "--print-address=1", "--print-pid=1"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    address, pid = bus.stdout.split()[:2]
    env["DBUS_SESSION_BUS_ADDRESS"] = address
    keyring_daemon = subprocess.Popen(
        ["gnome-keyring-daemon", "--foreground", "--unlock", "--components=secrets"],
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    assert keyring_daemon.stdin is not None
    keyring_daemon.stdin.write(b"test-keyring-password")
    keyring_daemon.stdin.close()
    try:
        _wait_for_secret_service(env)
        yield address
    finally:
        keyring_daemon.terminate()
        keyring_daemon.wait(10)
        subprocess.run(["kill", pid], check=False)
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def _secret_service_bus() -> Iterator[str]:
    with secret_service_daemon() as address:
        yield address


def _wait_for_secret_service(env: dict[str, str]) -> None:
    """Wait until the daemon has created and unlocked its default (login) collection."""
    probe = (
        "import secretstorage as s\n"
        "c = s.get_default_collection(s.dbus_init())\n"
        "raise SystemExit(1 if c.is_locked() else 0)\n"
    )
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        done = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True)
        if done.returncode == 0:
            return
        time.sleep(0.2)
    need("The Secret Service", "gnome-keyring-daemon did not unlock its collection")


@pytest.fixture
def secret_service(_secret_service_bus: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """Point keyring at the real Secret Service for this test; returns the bus address."""
    monkeypatch.setenv("DBUS_SESSION_BUS_ADDRESS", _secret_service_bus)
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "keyring.backends.SecretService.Keyring")
    from postdesk.core import secrets

    secrets.reset_backend()
    yield _secret_service_bus
    secrets.reset_backend()


@pytest.fixture
def locked_secret_service(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A Secret Service of its own whose collection is locked (gnome-keyring cannot be unlocked
    again without a prompt, so it is never the shared one)."""
    from postdesk.core import secrets

    with secret_service_daemon() as address:
        monkeypatch.setenv("DBUS_SESSION_BUS_ADDRESS", address)
        monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "keyring.backends.SecretService.Keyring")
        import secretstorage

        connection = secretstorage.dbus_init()
        secretstorage.get_default_collection(connection).lock()
        connection.close()
        secrets.reset_backend()
        yield address
        secrets.reset_backend()


# --- PostgreSQL -------------------------------------------------------------------------------


def _pg_bin() -> Path | None:
    for candidate in sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True):
        if (candidate / "initdb").exists():
            return candidate
    return None


@contextmanager
def postgres_cluster(bin_dir: Path | None = None) -> Iterator[str]:
    """A throwaway PostgreSQL cluster on loopback (run as the postgres user when root: initdb
    refuses root); yields the SQLAlchemy URL of its ``postgres`` database. Also used by the
    benchmarks that compare SQLite with PostgreSQL."""
    bin_dir = bin_dir or _pg_bin()
    if bin_dir is None:
        raise RuntimeError("PostgreSQL is not installed (apt-get install postgresql)")
    root = Path(tempfile.mkdtemp(prefix="postdesk-pg-"))
    os.chmod(root, 0o755)
    data = root / "data"
    as_postgres = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    if os.geteuid() == 0:
        shutil.chown(root, "postgres")
    initdb = ["-D", str(data), "-U", "postdesk", "--auth=trust", "-E", "UTF8", "--no-sync"]
    subprocess.run(
        [*as_postgres, str(bin_dir / "initdb"), *initdb], check=True, capture_output=True
    )
    port = free_port()
    options = f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off"
    start = ["-D", str(data), "-l", str(root / "server.log"), "-w", "-o", options, "start"]
    subprocess.run([*as_postgres, str(bin_dir / "pg_ctl"), *start], check=True, capture_output=True)
    try:
        yield f"postgresql+psycopg://postdesk@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run(
            [*as_postgres, str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"],
            check=False,
            capture_output=True,
        )
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[str]:
    """A throwaway PostgreSQL cluster on loopback; yields a SQLAlchemy URL of a fresh database."""
    bin_dir = _pg_bin()
    if bin_dir is None:
        need("PostgreSQL", "the server is not installed (run scripts/test to install it)")
    assert bin_dir is not None
    with postgres_cluster(bin_dir) as url:
        yield url


@pytest.fixture
def postgres_url(postgres_server: str) -> str:
    """A new, empty database on the shared test cluster for this test."""
    import uuid

    import psycopg

    name = f"t_{uuid.uuid4().hex[:12]}"
    admin = postgres_server.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return postgres_server.rsplit("/", 1)[0] + f"/{name}"
