"""Whole-process `postdesk test-send` against swaks, side by side, in one run.

Starts a local aiosmtpd server with STARTTLS and AUTH (certificate from a throwaway CA that both
tools trust through SSL_CERT_FILE), a private Secret Service for the service password, and a
workspace with that service. Then it runs a complete successful test send N times with each tool,
interleaved (A B A B …) after a warm-up, and prints both medians, the ratio and the load average.
Bytecode caching is on, as for a user, and Postdesk runs as a user installs it: from its package
in a venv of its own, started with its ``postdesk`` command (``uservenv.py``; ``--dev-venv`` runs
it with this interpreter instead: the development venv, an editable install beside the test
tools). Needs swaks, dbus-daemon and gnome-keyring (Debian packages) and, the first time, the
package index (pip).

    .venv/bin/python benchmarks/bench_test_send.py [--runs 15] [--compare SRC] [--dev-venv]

``--compare SRC`` adds a third side, interleaved in the same rounds: Postdesk run from another
source tree (``SRC`` first on ``PYTHONPATH``, e.g. ``git archive REV src | tar -x -C DIR`` and
``--compare DIR/src``), to compare code before and after a change under the same load.
"""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "src"), str(ROOT / "tests"), str(ROOT / "benchmarks")]

USER, PASSWORD = "bench@shop.example", "bench-password-123"


def _start_server(cafile_dir: Path) -> tuple[int, str, object]:
    """An aiosmtpd STARTTLS + AUTH server; returns (port, CA file, controller)."""
    import ssl

    from aiosmtpd.controller import Controller
    from aiosmtpd.smtp import AuthResult, LoginPassword

    from support.services import free_port
    from support.smtpd import build_pki

    pki = build_pki(cafile_dir)

    class Sink:
        async def handle_DATA(self, server, session, envelope):
            return "250 2.0.0 Queued"

    def authenticator(server, session, envelope, mechanism, auth_data):
        ok = isinstance(auth_data, LoginPassword) and (
            auth_data.login.decode(),
            auth_data.password.decode(),
        ) == (USER, PASSWORD)
        return AuthResult(success=ok)

    context: ssl.SSLContext = pki.server_context("good")
    port = free_port()
    controller = Controller(
        Sink(),
        hostname="127.0.0.1",
        port=port,
        tls_context=context,
        require_starttls=True,
        authenticator=authenticator,
        auth_required=True,
        auth_require_tls=True,
        server_hostname="bench.local",
    )
    controller.start()
    logging.getLogger("mail.log").setLevel(logging.CRITICAL)  # aiosmtpd's per-session chatter
    return port, pki.cafile, controller


def _prepare_workspace(env: dict[str, str], port: int) -> None:
    script = f"""
from postdesk.core import services
from postdesk.core.services import ServiceForm
from postdesk.core.store import open_store
from postdesk.core.store.models import DedicatedDomain
store = open_store()
services.add_service(store, ServiceForm(name="Local", host="127.0.0.1", port={port},
    security="starttls", username="{USER}", password="{PASSWORD}"))
with store.session() as s:
    s.add(DedicatedDomain(name="shop.example", ownership_token="t", status="verified"))
"""
    subprocess.run([sys.executable, "-c", script], env=env, check=True)


def _time(argv: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    done = subprocess.run(argv, env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"{argv[0]} failed:\n{done.stdout}\n{done.stderr}")
    return elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--compare", metavar="SRC", help="also time Postdesk from this src tree")
    parser.add_argument("--dev-venv", action="store_true", help="run Postdesk in this venv")
    args = parser.parse_args()
    if args.dev_venv:
        command = [sys.executable, "-m", "postdesk"]
    else:
        from uservenv import project_python

        command = [str(Path(project_python()).with_name("postdesk"))]
    for tool in ("swaks", "dbus-daemon", "gnome-keyring-daemon"):
        if not shutil.which(tool):
            raise SystemExit(f"{tool} is not installed (apt-get install swaks gnome-keyring)")
    from support.services import secret_service_daemon

    root = Path(tempfile.mkdtemp(prefix="postdesk-bench-"))
    port, cafile, controller = _start_server(root / "pki")
    load_before = os.getloadavg()
    try:
        with secret_service_daemon() as bus:
            ours, theirs, other = _compare(
                port, cafile, bus, root, args.runs, args.compare, command
            )
    finally:
        controller.stop()  # type: ignore[attr-defined]
        shutil.rmtree(root, ignore_errors=True)
    ours_ms, theirs_ms = statistics.median(ours) * 1000, statistics.median(theirs) * 1000
    print(f"complete STARTTLS + AUTH test send, whole process, {args.runs} runs each")
    print(f"  postdesk test-send  median {ours_ms:6.0f} ms  (min {min(ours) * 1000:.0f})")
    print(f"  swaks               median {theirs_ms:6.0f} ms  (min {min(theirs) * 1000:.0f})")
    print(f"  ratio postdesk / swaks: {ours_ms / theirs_ms:.2f}x (target: at most 3x)")
    if other:
        other_ms = statistics.median(other) * 1000
        print(f"  --compare tree      median {other_ms:6.0f} ms  (min {min(other) * 1000:.0f})")
        print(f"  ratio compared tree / swaks: {other_ms / theirs_ms:.2f}x")
    print(f"  load average {load_before[0]:.1f} before, {os.getloadavg()[0]:.1f} after")
    return 0


def _compare(
    port: int,
    cafile: str,
    bus: str,
    root: Path,
    runs: int,
    other_src: str | None,
    command: list[str],
) -> tuple[list[float], list[float], list[float]]:
    env = {
        **os.environ,
        "DBUS_SESSION_BUS_ADDRESS": bus,
        "PYTHON_KEYRING_BACKEND": "keyring.backends.SecretService.Keyring",
        "POSTDESK_HOME": str(root / "home"),
        # Both tools trust the throwaway CA the way they would trust a public one: through
        # OpenSSL's default trust file (swaks does not verify by default; Postdesk always does).
        "SSL_CERT_FILE": cafile,
    }
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # a user's install caches bytecode
    _prepare_workspace(env, port)
    postdesk = [
        *command,
        "test-send",
        "--service",
        "Local",
        "--from",
        "hello@shop.example",
        "--to",
        "owner@example.org",
    ]
    swaks = [
        "swaks",
        "--server",
        f"127.0.0.1:{port}",
        "--tls",
        "--auth",
        "LOGIN",
        "--auth-user",
        USER,
        "--auth-password",
        PASSWORD,
        "--from",
        "hello@shop.example",
        "--to",
        "owner@example.org",
    ]
    other_env = None
    if other_src:
        other_env = {**env, "PYTHONPATH": str(Path(other_src).resolve())}
        _time(postdesk, other_env)
    _time(postdesk, env)  # warm-up: the page cache, and bytecode written once
    _time(swaks, env)
    ours: list[float] = []
    theirs: list[float] = []
    other: list[float] = []
    for _ in range(runs):  # interleaved, so a busy moment slows both alike
        ours.append(_time(postdesk, env))
        theirs.append(_time(swaks, env))
        if other_env is not None:
            other.append(_time(postdesk, other_env))
    return ours, theirs, other


if __name__ == "__main__":
    raise SystemExit(main())
