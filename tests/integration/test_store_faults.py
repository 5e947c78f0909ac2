"""Write failures end in one clear line, and nothing is half-written.

The workspace is made unwritable the ways it happens to users: the database file immutable, the
data folder immutable or on a read-only mount, the disk full (a small tmpfs). Every command that
writes then runs as a real process against the real Secret Service; afterwards the database rows,
the keyring items and the sealed files are exactly what they were before.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from functools import partial
from pathlib import Path

import pytest

from support import cli
from support.services import free_port, need

postdesk = partial(cli.postdesk, timeout=60)

pytestmark = pytest.mark.nsd

TABLES = ("smtp_services", "dedicated_domains", "smtp_users", "dedicated_ips", "settings")
TMPFS_SIZE = "3m"


def one_line_failure(done: subprocess.CompletedProcess) -> str:
    """The single stderr line of a command that failed as a user should see it."""
    assert done.returncode != 0, (done.args, done.stdout)
    assert "Traceback" not in done.stdout + done.stderr, (done.args, done.stderr)
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, (done.args, done.stderr)
    assert lines[0].startswith("postdesk: ")
    return lines[0]


def run(cmd: list[str], check: bool = True) -> bool:
    return subprocess.run(cmd, capture_output=True, check=check).returncode == 0


# --- the faults -------------------------------------------------------------------------------


@contextmanager
def immutable(path: Path) -> Iterator[None]:
    if not run(["chattr", "+i", str(path)], check=False):
        need("chattr +i", "the file system here does not support the immutable flag")
    try:
        yield
    finally:
        run(["chattr", "-i", str(path)])


@contextmanager
def readonly_mount(path: Path) -> Iterator[None]:
    if not run(["mount", "--bind", str(path), str(path)], check=False):
        need("a read-only bind mount", "mount needs root")
    try:
        run(["mount", "-o", "remount,ro,bind", str(path)])
        yield
    finally:
        run(["umount", str(path)])


@contextmanager
def full_disk(home: Path) -> Iterator[None]:
    filler = home / "filler"
    subprocess.run(["dd", "if=/dev/zero", f"of={filler}", "bs=64k"], capture_output=True)
    try:
        yield
    finally:
        filler.unlink()


FAULTS: dict[str, tuple[Callable[[Path], object], tuple[str, ...]]] = {
    # name: (how to apply it to the data folder, words the one line must contain)
    "database file immutable": (lambda home: immutable(home / "postdesk.db"), ("read-only",)),
    "data folder immutable": (lambda home: immutable(home), ("not allowed",)),
    "data folder on a read-only mount": (readonly_mount, ("read-only",)),
    "disk full": (full_disk, ("disk is full",)),
}

COMMANDS: dict[str, tuple[list[str], str | None]] = {
    "service add": (
        [
            "service",
            "add",
            "Second",
            "--preset",
            "sendgrid",
            "--username",
            "apikey",
            "--password-stdin",
        ],
        "SG.second-api-key\n",
    ),
    "settings relay_port": (["settings", "relay_port", "2600"], None),
    "smtp-user create": (["smtp-user", "create", "shop.test", "newsletter"], None),
    "ip add": (["ip", "add", "192.0.2.10"], None),
    "domain add": (["domain", "add", "new.test"], None),
    "relay": (
        ["relay", "--listen", "127.0.0.1:{smtp}", "--tracking-listen", "127.0.0.1:{http}"],
        None,
    ),
}


# --- the workspace ----------------------------------------------------------------------------


@pytest.fixture
def workspace(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Path]:
    """A data folder holding a service, a verified domain with a sealed DKIM key and a login.

    For the full-disk case the folder is a small tmpfs of its own.
    """
    home = tmp_path / "workspace"
    home.mkdir()
    mounted = False
    if request.node.callspec.params.get("fault") == "disk full":
        if not run(
            ["mount", "-t", "tmpfs", "-o", f"size={TMPFS_SIZE}", "tmpfs", str(home)], check=False
        ):
            need("a small tmpfs", "mount -t tmpfs needs root")
        mounted = True
    monkeypatch.setenv("POSTDESK_HOME", str(home))
    try:
        yield home
    finally:
        if mounted:
            run(["umount", "-l", str(home)])


def populate(nsd) -> None:  # type: ignore[no-untyped-def]
    nsd.serve({"shop.test": "@ IN A 192.0.2.1\n", "new.test": "@ IN A 192.0.2.2\n"})
    added = postdesk(
        "service",
        "add",
        "Main",
        "--preset",
        "sendgrid",
        "--username",
        "apikey",
        "--password-stdin",
        stdin="SG.main-api-key\n",
    )
    assert added.returncode == 0, added.stderr
    shown = postdesk("domain", "add", "shop.test")
    assert shown.returncode == 0, shown.stderr
    with closing(sqlite3.connect(Path(os.environ["POSTDESK_HOME"]) / "postdesk.db")) as db:
        db.execute("UPDATE dedicated_domains SET status = 'verified'")
        db.commit()
    created = postdesk("smtp-user", "create", "shop.test", "shop")
    assert created.returncode == 0, created.stderr


def snapshot(home: Path) -> dict[str, object]:
    """Rows per table, Postdesk's keyring items and the sealed files: what must not change."""
    import secretstorage

    with closing(sqlite3.connect(home / "postdesk.db")) as db:  # closed: no -wal file stays
        rows = {t: db.execute(f"SELECT * FROM {t} ORDER BY 1").fetchall() for t in TABLES}
    connection = secretstorage.dbus_init()
    try:
        collection = secretstorage.get_default_collection(connection)
        items = sorted(
            item.get_attributes()["username"]
            for item in collection.search_items({"service": "postdesk"})
        )
    finally:
        connection.close()
    vault = sorted(p.name for p in (home / "vault").iterdir()) if (home / "vault").exists() else []
    return {"rows": rows, "keyring": items, "vault": vault}


@pytest.mark.parametrize("fault", FAULTS)
def test_write_failure_is_one_line_and_nothing_is_half_written(
    fault: str, workspace: Path, secret_service: str, nsd
) -> None:
    populate(nsd)
    before = snapshot(workspace)
    apply, words = FAULTS[fault]
    for command, (args, stdin) in COMMANDS.items():
        if fault == "database file immutable" and command == "relay":
            continue  # an immutable database file does not stop a relay with nothing to write
        args = [a.format(smtp=free_port(), http=free_port()) for a in args]
        with apply(workspace):  # type: ignore[attr-defined]
            done = postdesk(*args, stdin=stdin, timeout=30)
        line = f"{command}: " + one_line_failure(done)
        assert any(word in line for word in words), line
        print(line)
        assert str(workspace) in line, line  # where it failed
        assert snapshot(workspace) == before, command


@pytest.mark.parametrize(
    ("folder", "command"),
    [
        pytest.param("vault", "domain add", id="sealed DKIM key folder: domain add"),
        pytest.param("relay-tls", "relay", id="relay certificate folder: relay"),
    ],
)
def test_unwritable_folder_inside_the_data_folder_is_named(
    folder: str, command: str, workspace: Path, secret_service: str, nsd
) -> None:
    populate(nsd)
    (workspace / folder).mkdir(exist_ok=True)
    before = snapshot(workspace)
    args, stdin = COMMANDS[command]
    args = [a.format(smtp=free_port(), http=free_port()) for a in args]
    with immutable(workspace / folder):
        done = postdesk(*args, stdin=stdin, timeout=30)
    line = one_line_failure(done)
    assert "not allowed" in line and str(workspace / folder) in line, line
    assert snapshot(workspace) == before
    assert not list((workspace / folder).glob("*.tmp"))


@pytest.fixture
def small_disk(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A data folder on a 3 MB tmpfs of its own."""
    home = tmp_path / "small"
    home.mkdir()
    if not run(["mount", "-t", "tmpfs", "-o", f"size={TMPFS_SIZE}", "tmpfs", str(home)], False):
        need("a small tmpfs", "mount -t tmpfs needs root")
    monkeypatch.setenv("POSTDESK_HOME", str(home))
    try:
        yield home
    finally:
        run(["umount", "-l", str(home)])


def test_disk_filling_up_while_the_workspace_is_open(small_disk: Path, secret_service: str) -> None:
    """The window keeps its database open: the disk fills later, and a write then fails cleanly."""
    from sqlalchemy import func, select

    from postdesk.core import secrets
    from postdesk.core.errors import UserError
    from postdesk.core.store import open_store
    from postdesk.core.store.models import AuditEvent

    store = open_store()
    with store.session() as s:
        s.add(AuditEvent(action="before", subject="x"))
    with full_disk(small_disk):
        with pytest.raises(UserError) as caught, store.session() as s:
            s.add_all(AuditEvent(action="during", subject="y" * 1000) for _ in range(200))
        assert caught.value.code == "store.disk_full"
        assert str(small_disk) in caught.value.message
        with pytest.raises(UserError) as sealing:
            secrets.store_secret("dkim:full", "k" * 3000)
        assert sealing.value.code == "store.disk_full"
        assert "vault" in sealing.value.message
    assert secrets.read_secret("dkim:full") is None  # no keyring item without its sealed part
    assert not list((small_disk / "vault").glob("*"))  # and no half-written file
    with store.session() as s:
        assert s.scalar(select(func.count()).select_from(AuditEvent)) == 1
    store.close()
