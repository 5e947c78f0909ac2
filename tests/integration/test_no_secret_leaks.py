"""A whole workflow through the CLI, then a search for every secret used in everything it left.

Secrets may appear exactly once: the password shown when an SMTP user is created or reset.
They must never be in the database file, the log files, exports, or any other command's output.
"""

from __future__ import annotations

import json
import os
import signal
import smtplib
import subprocess
import sys
import time
from pathlib import Path

import pytest

from postdesk.core import secrets
from support.cli import postdesk
from support.nsd import txt
from support.relay import RelayProcess
from support.services import free_port
from support.smtpd import SMTP_PASSWORD, SMTP_USER

pytestmark = pytest.mark.nsd

MAILER = 'spf IN TXT "v=spf1 ip4:192.0.2.0/24 -all"\n'


class Cli:
    def __init__(self) -> None:
        self.outputs: list[str] = []

    def __call__(self, *args: str, stdin: str | None = None, ok: bool = True) -> str:
        done = postdesk(*args, stdin=stdin)
        if ok:
            assert done.returncode == 0, f"{args}: {done.stderr}"
        self.outputs.append(done.stdout + done.stderr)
        return done.stdout


def _publish(records: list[dict]) -> str:
    lines = []
    for r in records:
        if r["required"]:
            host = r["host"].removesuffix("shop.test").rstrip(".") or "@"
            lines.append(f"{host} IN TXT {txt(r['value'])}")
    return "\n".join(lines) + "\n"


def test_no_secret_reaches_database_logs_or_output(
    store, secret_service, nsd, smtp_server, postdesk_home: Path
) -> None:
    server = smtp_server(security="starttls")
    nsd.serve({"shop.test": "www IN A 192.0.2.1\n", "mailer.test": MAILER})
    cli = Cli()

    cli(
        "service",
        "add",
        "Local",
        "--host",
        "localhost",
        "--port",
        str(server.port),
        "--security",
        "starttls",
        "--username",
        SMTP_USER,
        "--spf-include",
        "spf.mailer.test",
        "--password-stdin",
        stdin=SMTP_PASSWORD + "\n",
    )
    cli("service", "test", "Local", "--json", ok=False)  # untrusted test CA: refused, not leaked
    cli("service", "list", "--json")
    cli("service", "edit", "Local", "--password-stdin", stdin=SMTP_PASSWORD + "\n")
    cli("domain", "add", "shop.test")
    records = json.loads(cli("domain", "records", "shop.test", "--format", "json"))["records"]
    cli("domain", "records", "shop.test", "--format", "zone")
    nsd.serve({"shop.test": _publish(records), "mailer.test": MAILER}, serial=2)
    cli("domain", "verify", "shop.test", "--json")
    cli("check", "shop.test", "--json", ok=False)

    created = json.loads(cli("smtp-user", "create", "shop.test", "shop", "--json"))
    cli.outputs.pop()  # the one-time display is the one place a password may appear
    reset = json.loads(cli("smtp-user", "reset-password", "shop.test", "shop", "--json"))
    cli.outputs.pop()
    typed = "Typed-Password-4242"
    cli("smtp-user", "create", "shop.test", "crm", "--password-stdin", stdin=typed + "\n")
    cli.outputs.pop()
    cli("smtp-user", "list", "shop.test", "--json")
    cli("tracking", "shop.test", "--open", "off", "--json")
    cli("usage", "--json")
    cli("usage", "--csv")
    cli("doctor", "--json")
    cli(
        "test-send",
        "--service",
        "Local",
        "--from",
        "hello@shop.test",
        "--to",
        "owner@example.org",
        "--json",
        ok=False,
    )
    _relay_session(postdesk_home, reset["username"], reset["password"], cli)
    cli("smtp-user", "delete", "shop.test", "crm")

    dkim_private = secrets.read_secret(store_dkim_ref(store))
    assert dkim_private and "PRIVATE KEY" in dkim_private
    needles = {
        "service password": SMTP_PASSWORD,
        "generated password": created["password"],
        "reset password": reset["password"],
        "typed password": typed,
        "DKIM private key": dkim_private.splitlines()[1],  # a line of the base64 body
    }
    haystacks = {f"output {i}": text for i, text in enumerate(cli.outputs)}
    for path in postdesk_home.rglob("*"):
        if path.is_file() and "vault" not in path.parts:  # vault: AES-GCM ciphertext only
            haystacks[str(path.relative_to(postdesk_home))] = path.read_bytes().decode("latin-1")
    assert any(name.startswith("postdesk.db") for name in haystacks)
    logs = [text for name, text in haystacks.items() if name.startswith("logs")]
    assert logs and "relay listening" in "".join(logs)  # the relay's session was logged
    for what, secret in needles.items():
        for where, text in haystacks.items():
            assert secret not in text, f"the {what} was found in {where}"


def _relay_session(home: Path, username: str, password: str, cli: Cli) -> None:
    """The relay as its own process: a wrong login, the right one, one message (its delivery
    through the untrusted service fails and is logged), then a clean stop."""
    port = free_port()
    output = home.parent / "relay-output.txt"
    with output.open("wb") as sink:
        process = subprocess.Popen(
            [sys.executable, "-m", "postdesk", "relay", "--listen", f"127.0.0.1:{port}",
             "--no-tracking", "--retry-after", "0.2"],
            stdout=sink,
            stderr=subprocess.STDOUT,
            env=dict(os.environ),
        )  # fmt: skip
    try:
        RelayProcess(process, port, output).wait_listening()
        with (
            smtplib.SMTP("127.0.0.1", port, timeout=30) as client,
            pytest.raises(smtplib.SMTPAuthenticationError),
        ):
            client.login(username, password[::-1])
        with smtplib.SMTP("127.0.0.1", port, timeout=30) as client:
            client.login(username, password)
            client.sendmail(
                username,
                ["owner@example.org"],
                f"From: {username}\r\nTo: owner@example.org\r\nSubject: Hi\r\n\r\nHello\r\n",
            )
        time.sleep(1.0)  # a delivery attempt or two, each logged
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(20)
    cli.outputs.append(output.read_text(encoding="utf-8", errors="replace"))


def store_dkim_ref(store) -> str:
    from postdesk.core.store.models import DkimKey

    with store.session() as s:
        return s.query(DkimKey).one().secret_ref
