"""Every kind of keyring backend that cannot really store is refused before anything is written,
and a password given on standard input is taken whole or refused, never cut.

Each case runs the real command line in its own process with ``PYTHON_KEYRING_BACKEND`` set, as a
user's environment would, and then looks at the database: no row may have been added.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from contextlib import closing
from pathlib import Path

import pytest

from postdesk.core import secrets
from postdesk.core.store import open_store
from support.workspace import add_verified_domain

# Backends written for these tests: each looks like a keyring but does not keep what it is given.
FAKE_BACKENDS = '''
from keyring.backend import KeyringBackend
from keyring.errors import PasswordSetError


class Forgetful(KeyringBackend):
    """Accepts every value and keeps none (like a misconfigured store)."""
    priority = 1

    def set_password(self, service, username, password):
        pass

    def get_password(self, service, username):
        return None

    def delete_password(self, service, username):
        pass


class Scrambling(Forgetful):
    """Gives back something other than what was stored."""

    def get_password(self, service, username):
        return "something else"


class Refusing(Forgetful):
    """Refuses every write."""

    def set_password(self, service, username, password):
        raise PasswordSetError("no")


class PlaintextKeyring(KeyringBackend):
    """Really stores, but in plain text in a file."""
    priority = 1
    values = {}

    def set_password(self, service, username, password):
        self.values[service, username] = password

    def get_password(self, service, username):
        return self.values.get((service, username))

    def delete_password(self, service, username):
        self.values.pop((service, username), None)
'''

BACKENDS = {
    "null": "keyring.backends.null.Keyring",
    "fail": "keyring.backends.fail.Keyring",
    "empty chain": "keyring.backends.chainer.ChainerBackend",
    "not installed": "nosuch.module.Keyring",
    "not a class": "os.path",
    "forgets what it stores": "fakes.Forgetful",
    "gives back something else": "fakes.Scrambling",
    "refuses writes": "fakes.Refusing",
    "plain text": "fakes.PlaintextKeyring",
}

COMMANDS = {
    "service add": (
        [
            "service",
            "add",
            "Main",
            "--preset",
            "sendgrid",
            "--username",
            "apikey",
            "--password-stdin",
        ],
        b"SG.api-key-0123456789\n",
    ),
    "smtp-user create": (["smtp-user", "create", "example.com", "shop"], None),
    "smtp-user create --password-stdin": (
        ["smtp-user", "create", "example.com", "shop", "--password-stdin"],
        b"Correct-Horse-Battery-9\n",
    ),
    "domain add": (["domain", "add", "new.example"], None),
}

TABLES = ("smtp_services", "dedicated_domains", "smtp_users", "dkim_keys", "audit_log")


def rows(home: Path) -> dict[str, int]:
    with closing(sqlite3.connect(home / "postdesk.db")) as db:
        return {t: db.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in TABLES}


def postdesk(
    home: Path, *args: str, stdin: bytes | None, backend: str | None = None
) -> subprocess.CompletedProcess:
    """Run the CLI; with ``backend``, in an environment where only that backend is chosen."""
    env = dict(os.environ) | {
        "POSTDESK_HOME": str(home),
        "PYTHONPATH": os.pathsep.join(
            filter(None, [str(home.parent / "fakes-path"), os.environ.get("PYTHONPATH")])
        ),
        # Never the internet: a closed port fails every DNS question at once.
        "POSTDESK_NAMESERVERS": "127.0.0.1:9",
    }
    if backend is not None:
        env["PYTHON_KEYRING_BACKEND"] = backend
        env.pop("DBUS_SESSION_BUS_ADDRESS", None)  # so a chain of backends finds none usable
    return subprocess.run(
        [sys.executable, "-m", "postdesk", *args],
        env=env,
        input=stdin,
        capture_output=True,
        timeout=60,
    )


@pytest.fixture
def workspace(postdesk_home: Path) -> Path:
    """A workspace with one verified domain (for SMTP users) and the fake backends importable."""
    fakes = postdesk_home.parent / "fakes-path"
    fakes.mkdir()
    (fakes / "fakes.py").write_text(FAKE_BACKENDS)
    store = open_store()
    add_verified_domain(store)
    store.close()
    return postdesk_home


@pytest.mark.parametrize("command", COMMANDS)
@pytest.mark.parametrize("backend", BACKENDS)
def test_backend_that_cannot_store_is_refused_before_any_row(
    backend: str, command: str, workspace: Path
) -> None:
    before = rows(workspace)
    args, stdin = COMMANDS[command]
    done = postdesk(workspace, *args, stdin=stdin, backend=BACKENDS[backend])
    err = done.stderr.decode()
    assert done.returncode != 0, done.stdout
    assert "Traceback" not in err
    (line,) = err.strip().splitlines()
    assert line.startswith("postdesk: ") and "keyring" in line.lower()
    assert rows(workspace) == before
    assert not (workspace / "vault").exists() or not list((workspace / "vault").iterdir())


def test_a_real_keyring_is_accepted(workspace: Path, secret_service: str) -> None:
    """The same commands go through with the Secret Service: the refusals above are real."""
    for command, (args, stdin) in COMMANDS.items():
        if command == "domain add":
            continue  # needs DNS; covered by the domain workflow tests
        if command == "smtp-user create --password-stdin":
            args = [*args[:-2], "news", args[-1]]
        done = postdesk(workspace, *args, stdin=stdin)
        assert done.returncode == 0, (command, done.stderr)
    counts = rows(workspace)
    assert counts["smtp_services"] == 1 and counts["smtp_users"] == 2


# --- passwords on standard input --------------------------------------------------------------

REFUSED_PASSWORDS = {
    "two lines": (b"first-line-Pass1\nsecond-line\n", "more than one line"),
    "two lines, CRLF": (b"first-line-Pass1\r\nsecond\r\n", "more than one line"),
    "only spaces": (b"  \n", "only spaces"),
    "only a tab": (b"\t", "only spaces"),
    "empty": (b"", "no password"),
    "only a newline": (b"\n", "no password"),
    "not UTF-8": (b"caf\xe9-Pass-1234\n", "not valid utf-8"),
    "NUL inside": (b"abc\x00def-Pass-1234", "control character"),
    "too long": (b"x" * 5000, "longer than"),
}


@pytest.mark.parametrize("case", REFUSED_PASSWORDS)
def test_password_on_stdin_is_refused_not_cut(
    case: str, workspace: Path, secret_service: str
) -> None:
    stdin, words = REFUSED_PASSWORDS[case]
    args, _ = COMMANDS["service add"]
    before = rows(workspace)
    done = postdesk(workspace, *args, stdin=stdin)
    err = done.stderr.decode()
    assert done.returncode != 0 and "Traceback" not in err
    (line,) = err.strip().splitlines()
    assert words in line.lower(), line
    assert "keyring" not in line.lower()  # the input is to blame, not the keyring
    assert rows(workspace) == before


@pytest.mark.parametrize(
    ("stdin", "stored"),
    [
        (b"SG.key-with-newline\n", "SG.key-with-newline"),
        (b"SG.key-with-crlf\r\n", "SG.key-with-crlf"),
        (b"SG.key-without-newline", "SG.key-without-newline"),
        (" p\u00e4ss w\u00f6rd ".encode(), " p\u00e4ss w\u00f6rd "),  # inner and outer blanks kept
    ],
)
def test_password_on_stdin_is_stored_exactly(
    stdin: bytes, stored: str, workspace: Path, secret_service: str
) -> None:
    args, _ = COMMANDS["service add"]
    done = postdesk(workspace, *args, stdin=stdin)
    assert done.returncode == 0, done.stderr
    with closing(sqlite3.connect(workspace / "postdesk.db")) as db:
        (ref,) = db.execute("SELECT secret_ref FROM smtp_services").fetchone()
    assert secrets.read_secret(ref) == stored
