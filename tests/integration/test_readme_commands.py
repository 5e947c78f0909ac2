"""Every command the README's "Command line" block lists, run for real against a populated
workspace: services (one an upstream sink on loopback), a verified and a failing domain served
by NSD, SMTP users, usage rows and queued mail. Each runs with ``--json`` where the command takes
it and without; exit codes are the documented ones and no output ever holds a traceback.

A command the README lists that this test does not know how to run fails the test, so a new
line in the README comes with a way to try it here.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import re
import shutil
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from postdesk.cli import build_parser
from postdesk.core import conversations, credentials, domains, services, settings, usage
from postdesk.core.relay import queue
from postdesk.core.store.models import DedicatedDomain, SmtpUser
from support import cli
from support.nsd import txt
from support.relay import UPSTREAM_PASSWORD, UPSTREAM_USER, Sink, message
from support.services import free_port

pytestmark = pytest.mark.nsd

README = Path(__file__).resolve().parents[2] / "README.md"
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
# The provider's SPF lists the dedicated IP, so `ip check` finds it allowed for shop.test.
MAILER = 'spf IN TXT "v=spf1 ip4:192.0.2.0/24 ip4:203.0.113.5 -all"\n'
# A blocklist that passes its RFC 5782 self-test and does not list the dedicated IP.
BLOCKLIST = "2.0.0.127 IN A 127.0.0.2\n"
PTR_ZONE = "113.0.203.in-addr.arpa"
PIN = ":".join(["AB"] * 32)
TYPED = "Typed-Password-4242"
# A message as a receiver saved it, for `analyze`.
RECEIVED = """\
Received: from mail.shop.test (mail.shop.test [203.0.113.5]) by mx.client.test with ESMTPS id 1;
 Sun, 29 Nov 2026 09:00:00 +0000
Authentication-Results: mx.client.test; spf=pass smtp.mailfrom=shop.test;
 dkim=pass header.d=shop.test; dmarc=pass header.from=shop.test
From: Shop <shop@shop.test>
To: owner@client.test
Subject: Hello
Date: Sun, 29 Nov 2026 08:59:58 +0000
Message-ID: <1@shop.test>

Hello.
"""


# --- what the README lists --------------------------------------------------------------------


def _split_top(text: str) -> list[str]:
    """Split on "|" outside brackets and parentheses: "a [b|c] | d" → ["a [b|c]", "d"]."""
    parts, depth, current = [], 0, ""
    for char in text:
        if char in "[(":
            depth += 1
        elif char in "])":
            depth -= 1
        if char == "|" and depth == 0:
            parts.append(current.strip())
            current = ""
        else:
            current += char
    return [*parts, current.strip()]


def readme_commands() -> set[tuple[str, ...]]:
    """(command, subcommand) pairs of the README's command-line block; ("",) is bare postdesk."""
    section = README.read_text().split("## Command line", 1)[1]
    block = section.split("```", 2)[1]
    found: set[tuple[str, ...]] = set()
    for line in block.splitlines()[1:]:
        usage_text = re.split(r"\s{2,}", line.strip())[0]
        if not usage_text.startswith("postdesk"):
            continue
        rest = usage_text.removeprefix("postdesk").strip()
        if not rest:
            found.add(("",))
            continue
        segments = _split_top(rest)
        if segments[0].startswith("-"):  # "--version | doctor [--json]": each is a command
            found.update((segment.split()[0],) for segment in segments)
            continue
        command, *first = segments[0].split(maxsplit=1)
        for segment in [" ".join(first), *segments[1:]]:
            word = segment.split()[0] if segment.split() else ""
            found.add((command, word) if re.fullmatch(r"[a-z][a-z-]*", word) else (command,))
    return found


def takes_json(argv: list[str]) -> bool:
    """Whether the (sub)command these arguments name has a --json option."""
    parser = build_parser()
    for word in argv:
        if word.startswith("-"):
            break
        actions = [a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction"]
        if not actions or word not in actions[0].choices:  # type: ignore[operator]
            break
        parser = actions[0].choices[word]  # type: ignore[index]
    return any("--json" in action.option_strings for action in parser._actions)


# --- how each one is run ----------------------------------------------------------------------


@dataclass
class Run:
    argv: list[str]
    code: int = 0
    stdin: str | None = None
    json_too: bool = True  # also run it with --json (when the command takes it)


def runs(tmp: Path) -> dict[tuple[str, ...], list[Run]]:
    """The README's commands with real arguments, in an order that keeps the workspace usable."""
    service_add = ["service", "add"]
    return {
        ("--version",): [Run(["--version"])],
        ("doctor",): [Run(["doctor"])],
        ("gui",): [Run(["gui", "--screenshot", str(tmp / "window.png"), "--tab", "SMTP Service"])],
        ("service", "add"): [
            Run([*service_add, "SendGrid", "--preset", "sendgrid", "--password-stdin"],
                stdin="SG.key-1\n", json_too=False),
            Run([*service_add, "Backup", "--preset", "sendgrid", "--password-stdin", "--default",
                 "--json"], stdin="SG.key-2\n", json_too=False),
            Run([*service_add, "Custom", "--host", "smtp.custom.test", "--port", "587",
                 "--security", "starttls", "--username", "u", "--password-stdin"],
                stdin="custom-password\n", json_too=False),
        ],
        ("service", "list"): [Run(["service", "list"])],
        ("service", "edit"): [
            Run(["service", "edit", "Custom", "--port", "465", "--security", "tls"]),
            Run(["service", "edit", "Mailer", "--default"], json_too=False),
        ],
        ("service", "test"): [Run(["service", "test", "Mailer"])],
        ("service", "presets"): [Run(["service", "presets"])],
        ("service", "pin"): [Run(["service", "pin", "Custom", PIN])],
        ("service", "unpin"): [Run(["service", "unpin", "Custom"])],
        ("ip", "add"): [Run(["ip", "add", "203.0.113.5", "--label", "Main"], json_too=False)],
        ("ip", "list"): [Run(["ip", "list"])],
        # before `domain add`: then every dedicated domain has SPF that lists the address
        ("ip", "check"): [
            Run(["ip", "check", "203.0.113.5"]),
            Run(["ip", "check", "203.0.113.5", "--format", "html"], json_too=False),
        ],
        ("domain", "add"): [
            Run(["domain", "add", "new.test", "--service", "Custom"], json_too=False),
            Run(["domain", "add", "other.test", "--json"], json_too=False),
        ],
        ("domain", "list"): [Run(["domain", "list"])],
        ("domain", "records"): [
            Run(["domain", "records", "shop.test", "--format", fmt])
            for fmt in ("table", "json", "zone")
        ],
        ("domain", "verify"): [
            Run(["domain", "verify", "shop.test"]),
            Run(["domain", "verify", "fail.test"], code=1),
        ],
        # Off: turning it on would make the MX record required for the checks that follow.
        ("domain", "reception"): [
            Run(["domain", "reception", "shop.test", "--off"]),
            Run(["domain", "reception", "nowhere.test", "--on"], code=1),
        ],
        ("domain", "unsubscribe"): [
            Run(["domain", "unsubscribe", "shop.test", "--on"]),
            Run(["domain", "unsubscribe", "shop.test"]),
            Run(["domain", "unsubscribe", "shop.test", "--off"]),
            Run(["domain", "unsubscribe", "nowhere.test", "--on"], code=1),
        ],
        ("check",): [
            Run(["check", "fail.test"], code=1),
            Run(["check", "fail.test", "--dkim-selector", "s1", "--dkim-selector", "s2"], code=1),
            Run(["check", "fail.test", "--format", "html"], code=1, json_too=False),
        ],
        ("analyze",): [
            Run(["analyze", str(tmp / "received.eml")]),
            Run(["analyze", str(tmp / "received.eml"), "--no-dns"]),
            Run(["analyze", "-", "--format", "text"], stdin=RECEIVED, json_too=False),
        ],
        ("dmarc", "import"): [Run(["dmarc", "import", str(tmp / "dmarc-report.eml")])],
        ("dmarc", "sources"): [Run(["dmarc", "sources", "borschow.com", "--days", "3660"])],
        ("smtp-user", "create"): [
            Run(["smtp-user", "create", "shop.test", "crm"], json_too=False),
            Run(["smtp-user", "create", "shop.test", "crm2", "--json"], json_too=False),
            Run(["smtp-user", "create", "shop.test", "app", "--password-stdin"],
                stdin=TYPED + "\n", json_too=False),
            Run(["smtp-user", "create", "fail.test", "shop"], code=1),
        ],
        ("smtp-user", "list"): [Run(["smtp-user", "list", "shop.test"])],
        ("smtp-user", "reset-password"): [
            Run(["smtp-user", "reset-password", "shop.test", "crm"]),
            Run(["smtp-user", "reset-password", "shop.test", "app", "--password-stdin"],
                stdin="Other-Typed-Pass-77\n"),
        ],
        ("suppress", "add"): [
            Run(["suppress", "add", "gone@client.test", "--note", "closed account"]),
            Run(["suppress", "add", "fan@client.test", "--reason", "unsubscribe", "--domain",
                 "shop.test"]),
            Run(["suppress", "add", "not-an-address"], code=1),
        ],
        ("suppress", "list"): [
            Run(["suppress", "list"]), Run(["suppress", "list", "--search", "gone"]),
            Run(["suppress", "list", "--reason", "unsubscribe"]),
        ],
        ("suppress", "export"): [
            Run(["suppress", "export"]), Run(["suppress", "export", str(tmp / "suppressed.csv")]),
        ],
        ("suppress", "import"): [Run(["suppress", "import", str(tmp / "suppressed.csv")])],
        ("suppress", "remove"): [
            Run(["suppress", "remove", "fan@client.test", "--domain", "shop.test"]),
            Run(["suppress", "remove", "nobody@client.test"], code=1),
        ],
        ("smtp-user", "edit"): [
            Run(["smtp-user", "edit", "shop.test", "crm", "--service", "SendGrid"]),
            Run(["smtp-user", "edit", "shop.test", "crm", "--service-default"]),
            Run(["smtp-user", "edit", "shop.test", "crm", "--service", "Nope"], code=1),
        ],
        ("tracking",): [
            Run(["tracking", "shop.test"]),
            Run(["tracking", "shop.test", "--open", "off", "--click", "on"]),
        ],
        ("test-send",): [
            Run(["test-send", "--service", "Mailer", "--from", "hello@shop.test", "--to",
                 "owner@client.test"]),
            Run(["test-send", "--service", "Mailer", "--from", "hello@shop.test", "--to",
                 "owner@client.test", "--format", "json"], json_too=False),
            # Nothing listens on the relay port: the documented non-zero exit, one clear line.
            Run(["test-send", "--smtp-user", "shop.test/shop", "--from", "shop@shop.test",
                 "--to", "owner@client.test"], code=1),
        ],
        ("activity",): [
            Run(["activity"]),
            Run(["activity", "--to", "customer@client.test", "--since", "2020-01-01"]),
            Run(["activity", "--status", "lost"], code=2, json_too=False),
        ],
        ("activity", "show"): [
            Run(["activity", "show", "1"]),
            Run(["activity", "show", "<nothing@shop.test>"], code=1),
        ],
        ("usage",): [Run(["usage"]), Run(["usage", "--days", "30"]), Run(["usage", "--csv"],
                                                                          json_too=False)],
        ("stats",): [Run(["stats"]), Run(["stats", "--domain", "shop.test", "--days", "1"])],
        ("settings",): [
            Run(["settings"]),
            Run(["settings", "relay_port"]),
            Run(["settings", "tracking_delay_minutes", "20"]),
            Run(["settings", "tracking_delay_minutes", "--reset"]),
        ],
        ("webhooks", "secret"): [
            Run(["webhooks", "secret", "mailgun", "--stdin"], stdin="key-mailgun-1\n",
                json_too=False),
            Run(["webhooks", "secret", "ses", "--stdin"], stdin="not-an-arn\n", code=1,
                json_too=False),
        ],
        ("webhooks",): [Run(["webhooks"]), Run(["webhooks", "--domain", "shop.test"])],
        ("relay",): [],  # run apart: it serves until stopped
        ("conversations", "list"): [
            Run(["conversations", "list"]),
            Run(["conversations", "list", "--domain", "shop.test", "--unread"]),
        ],
        ("conversations", "show"): [Run(["conversations", "show", "999"], code=1)],
        ("conversations", "search"): [
            Run(["conversations", "search", "invoice", "--domain", "shop.test"])
        ],
        ("forward", "add"): [
            Run(["forward", "add", "shop.test", "info", "owner@client.test"], json_too=False),
            Run(["forward", "add", "shop.test", "*", "desk@client.test", "--json"],
                json_too=False),
            Run(["forward", "add", "shop.test", "sales", "team@shop.test"], code=1),
        ],
        ("forward", "list"): [Run(["forward", "list"]), Run(["forward", "list", "shop.test"])],
        ("forward", "pause"): [
            Run(["forward", "pause", "shop.test", "info"]),
            Run(["forward", "pause", "shop.test", "nobody"], code=1),
        ],
        ("forward", "resume"): [Run(["forward", "resume", "shop.test", "info"])],
        ("forward", "remove"): [
            Run(["forward", "remove", "shop.test", "*"]),
            Run(["forward", "remove", "shop.test", "nobody"], code=1),
        ],
        ("sender", "add"): [
            Run(["sender", "add", "hello@shop.test"], json_too=False),
            Run(["sender", "add", "someone@other.test"], code=1),
        ],
        ("sender", "confirm"): [Run(["sender", "confirm", "hello@shop.test", "000000"], code=1)],
        ("sender", "list"): [Run(["sender", "list"]), Run(["sender", "list", "shop.test"])],
        ("sender", "policy"): [
            Run(["sender", "policy", "shop.test", "listed"]),
            Run(["sender", "policy", "shop.test"]),
            Run(["sender", "policy", "shop.test", "any"]),
        ],
        ("sender", "remove"): [Run(["sender", "remove", "hello@shop.test"])],
        ("reply",): [
            Run(["reply", "1", "--from", "hello@shop.test", "--body-stdin"], stdin="Thanks!\n"),
            Run(["reply", "999", "--from", "hello@shop.test", "--body-stdin"], stdin="Hi\n",
                code=1),
        ],
        ("smtp-user", "delete"): [
            Run(["smtp-user", "delete", "shop.test", "crm2"], json_too=False)
        ],
        ("service", "remove"): [Run(["service", "remove", "Backup"], json_too=False)],
        ("domain", "remove"): [
            Run(["domain", "remove", "new.test"], json_too=False),
            Run(["domain", "remove", "shop.test"], json_too=False),  # with its queue and history
        ],
    }  # fmt: skip


# Not run: bare `postdesk` and `postdesk gui` without --screenshot open a window and wait.
NOT_RUN = {("",)}


# --- the workspace ----------------------------------------------------------------------------


def _publish(records: list[dict], domain: str) -> str:
    lines = []
    for record in records:
        if not record["required"]:
            continue
        host = record["host"].removesuffix(domain).rstrip(".") or "@"
        value = txt(record["value"]) if record["type"] == "TXT" else record["value"] + "."
        lines.append(f"{host} IN {record['type']} {value}")
    return "\n".join(lines) + "\nmail IN A 203.0.113.5\n"


def populate(store, nsd, sink: Sink) -> None:  # type: ignore[no-untyped-def]
    base_zones = {
        "mailer.test": MAILER,
        "new.test": "www IN A 192.0.2.8\n",
        "other.test": "www IN A 192.0.2.9\n",
        # SPF is right, nothing else is published: the domain fails its check
        "fail.test": '@ IN TXT "v=spf1 include:spf.mailer.test ~all"\n',
        "shop.test": "mail IN A 203.0.113.5\n",
        "bl.test": BLOCKLIST,
        PTR_ZONE: "5 IN PTR mail.shop.test.\n",
    }
    nsd.serve(base_zones)
    services.add_service(
        store,
        services.ServiceForm(
            name="Mailer",
            host="127.0.0.1",
            port=sink.port,
            security="none",
            username=UPSTREAM_USER,
            password=UPSTREAM_PASSWORD,
            spf_include="spf.mailer.test",
            make_default=True,
        ),
    )
    for name in ("shop.test", "fail.test"):
        asyncio.run(domains.add_domain(store, name, service_name="Mailer"))
    _, expected = domains.expected_records(store, "shop.test")
    published = _publish([r.as_dict() for r in expected], "shop.test")
    nsd.serve({**base_zones, "shop.test": published}, serial=2)
    for name in ("shop.test", "fail.test"):
        asyncio.run(domains.verify_domain(store, name))
    made = credentials.create_smtp_user(store, "shop.test", "shop")
    with store.session() as s:
        settings.change(s, "blocklists", ["bl.test"])
        shop = s.query(DedicatedDomain).filter_by(name="shop.test").one()
        user = s.query(SmtpUser).filter_by(login="shop").one()
        assert shop.status == "verified"
        assert s.query(DedicatedDomain).filter_by(name="fail.test").one().status == "failing"
        domain_id, user_id = shop.id, user.id
        raw = message("Queued", sender=made.username, to="customer@client.test").as_bytes()
        queue.enqueue(
            s,
            domain_id=domain_id,
            smtp_user_id=user_id,
            mail_from=made.username,
            rcpt_tos=["customer@client.test"],
            raw=raw,
            subject="Queued",
        )
        # A conversation (thread 1) for `reply` to answer.
        conversations.file_inbound(
            s,
            domain_id=domain_id,
            raw=message("Where is my order?", sender="carol@client.test", to="hello@shop.test")
            .as_bytes()
            .replace(b"\n", b"\r\n"),
            mail_from="carol@client.test",
            rcpt_tos=["hello@shop.test"],
            remote_ip="192.0.2.7",
            helo="mx.client.test",
            verdicts={},
            auth_results="",
        )
    yesterday = dt.datetime.now(dt.UTC) - dt.timedelta(days=1)
    usage.record_sent(store, recipients=3, smtp_user_id=user_id, domain_id=domain_id)
    usage.record_sent(store, recipients=7, smtp_user_id=user_id, domain_id=domain_id, at=yesterday)


def postdesk(argv: list[str], stdin: str | None) -> subprocess.CompletedProcess[str]:
    return cli.postdesk(*argv, stdin=stdin, timeout=180)


def problems_of(
    argv: list[str], expected: int, done: subprocess.CompletedProcess[str]
) -> list[str]:
    """What is wrong with one run: its exit code, a traceback, JSON that does not parse."""
    shown = " ".join(argv)
    found = []
    if "Traceback" in done.stdout + done.stderr:
        found.append(f"`postdesk {shown}` printed a traceback:\n{done.stderr[-1500:]}")
    elif done.returncode != expected:
        found.append(
            f"`postdesk {shown}` exited {done.returncode}, expected {expected}: "
            f"{(done.stderr or done.stdout)[-500:]}"
        )
    if done.returncode != 0 and not (done.stderr.strip() or done.stdout.strip()):
        found.append(f"`postdesk {shown}` failed without saying why")
    if "--json" in argv and done.stdout.strip():
        try:
            json.loads(done.stdout)
        except json.JSONDecodeError:
            found.append(f"`postdesk {shown}` printed output that is not JSON")
    return found


def run_relay_for_a_moment() -> list[str]:
    """`postdesk relay` until it says it listens, then SIGTERM: a clean stop, exit 0."""
    argv = ["relay", "--listen", f"127.0.0.1:{free_port()}", "--no-tracking"]
    process = subprocess.Popen(
        [sys.executable, "-m", "postdesk", *argv],
        env=dict(os.environ),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    first = process.stdout.readline()  # blocks until it listens or exits
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
    try:
        out, err = process.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        process.kill()
        out, err = process.communicate()
        return [f"`postdesk {' '.join(argv)}` did not stop on SIGTERM"]
    done = subprocess.CompletedProcess(argv, process.returncode, first + out, err)
    found = problems_of(argv, 0, done)
    if "Relay listening" not in first:
        found.append(f"`postdesk {' '.join(argv)}` did not start: {err[-500:]}")
    return found


# --- the test ---------------------------------------------------------------------------------


def test_the_readme_lists_only_commands_this_test_runs(tmp_path: Path) -> None:
    listed = readme_commands()
    assert {("service", "add"), ("domain", "list"), ("relay",), ("settings",)} <= listed
    unknown = listed - set(runs(tmp_path)) - NOT_RUN
    assert not unknown, f"README lists commands this test does not run: {sorted(unknown)}"


def test_every_readme_command_runs_without_a_traceback(
    store, secret_service, nsd, tmp_path: Path
) -> None:
    (tmp_path / "received.eml").write_text(RECEIVED)
    shutil.copy(FIXTURES / "dmarc" / "google-zip.eml", tmp_path / "dmarc-report.eml")
    sink = Sink(free_port()).start()
    try:
        populate(store, nsd, sink)
        listed = readme_commands()
        problems: list[str] = []
        for key, planned in runs(tmp_path).items():
            if key not in listed:
                continue
            if key == ("relay",):
                problems += run_relay_for_a_moment()
            for run in planned:
                variants = [run.argv]
                if run.json_too and "--json" not in run.argv and takes_json(run.argv):
                    variants.append([*run.argv, "--json"])
                for argv in variants:
                    problems += problems_of(argv, run.code, postdesk(argv, run.stdin))
        if ("gui",) in listed and not (tmp_path / "window.png").exists():
            problems.append("`postdesk gui --screenshot` saved no picture")
    finally:
        sink.stop()
    assert not problems, "\n\n".join(problems)
