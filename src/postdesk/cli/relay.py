"""``postdesk relay``: run the built-in relay headless until Ctrl-C or SIGTERM."""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "relay", help="run the relay your apps send through (until Ctrl-C)"
    )
    add_arguments(parser)
    parser.set_defaults(handler=run)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--listen",
        metavar="HOST:PORT",
        help="where apps connect (default 127.0.0.1 and the relay port setting, 2525)",
    )
    parser.add_argument(
        "--tracking-listen",
        metavar="HOST:PORT",
        help="where the open/click tracking endpoint listens (default: the listen host, 2580)",
    )
    parser.add_argument("--no-tracking", action="store_true", help="serve no tracking endpoint")
    parser.add_argument(
        "--inbound",
        metavar="HOST:PORT",
        help="also receive mail for the dedicated domains with reception on (port 25 on a "
        "server; default: the inbound_listen setting, unset = no reception)",
    )
    parser.add_argument("--cert", type=Path, metavar="FILE", help="your own PEM certificate")
    parser.add_argument("--key", type=Path, metavar="FILE", help="the certificate's PEM key")
    parser.add_argument(
        "--retry-after",
        type=float,
        default=60.0,
        metavar="SECONDS",
        help="first retry delay after a temporary failure upstream (doubles, up to 1 hour)",
    )
    parser.add_argument(
        "--lease",
        type=float,
        default=120.0,
        metavar="SECONDS",
        help="how long a message claimed by a relay process that stopped answering is held "
        "before another process takes it over (default 120)",
    )
    parser.add_argument(
        "--single-process",
        action="store_true",
        help="deliver in the same process that accepts (default: delivery runs in a process of "
        "its own, so a busy relay uses two CPUs)",
    )


def _hostport(option: str, text: str, default_port: int | None = None) -> tuple[str, int]:
    """``HOST:PORT`` from an option, the host checked like any other; one clear line if not."""
    from postdesk.core.errors import UserError
    from postdesk.core.relay.options import parse_hostport
    from postdesk.core.validation import check_field, check_hostname, quote_input

    try:
        host, port = parse_hostport(check_field(option, text), default_port)
        return check_hostname(host), port
    except (ValueError, UserError):
        raise UserError(
            "relay.bad_listen",
            f"{option} {quote_input(text)} is not a HOST:PORT address.",
            "Write it like 127.0.0.1:2525, or [::1]:2525 for IPv6.",
        ) from None


def _seconds(option: str, value: float) -> float:
    from postdesk.core.errors import UserError

    if not (math.isfinite(value) and 0 < value <= 86_400):
        raise UserError(
            "relay.bad_seconds",
            f"{option} must be a number of seconds above 0 and at most 86400, not {value}.",
            f"Try {option} 60.",
        )
    return value


def _options(args: argparse.Namespace):  # type: ignore[no-untyped-def]
    from postdesk.core.errors import UserError
    from postdesk.core.relay.options import DEFAULT_TRACKING_PORT, RelayOptions

    options = RelayOptions(
        retry_base=_seconds("--retry-after", args.retry_after),
        lease=_seconds("--lease", args.lease),
        delivery_process=not args.single_process,
    )
    if args.listen is not None:
        options.listen_host, options.listen_port = _hostport("--listen", args.listen)
    if args.inbound is not None:
        options.inbound_host, options.inbound_port = _hostport("--inbound", args.inbound)
    if args.no_tracking:
        options.tracking_port = None
    elif args.tracking_listen is not None:
        options.tracking_host, options.tracking_port = _hostport(
            "--tracking-listen", args.tracking_listen, DEFAULT_TRACKING_PORT
        )
    if bool(args.cert) != bool(args.key):
        raise UserError(
            "relay.cert_pair",
            "--cert and --key go together.",
            "Give both your certificate and its key, or neither for a self-signed certificate.",
        )
    options.certfile, options.keyfile = args.cert, args.key
    return options


def run(args: argparse.Namespace) -> int:
    import asyncio

    from postdesk.core.store import open_store

    options = _options(args)
    store = open_store()
    try:
        asyncio.run(_serve(store, options))
    finally:
        store.close()
    return 0


async def _serve(store, options) -> None:  # type: ignore[no-untyped-def]
    import asyncio
    import contextlib
    import signal

    from postdesk.core.relay import Relay

    # Handlers first: a supervisor may send SIGTERM as soon as it reads "listening", and that
    # must stop the relay cleanly rather than kill it mid-start.
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        # On Windows there are no signal handlers: Ctrl-C arrives as KeyboardInterrupt.
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    relay = Relay(store, options)
    await relay.start()
    status = relay.status
    auth = "AUTH PLAIN/LOGIN" + (" (also without TLS: loopback)" if status.auth_without_tls else "")
    print(f"Relay listening on {status.smtp_address} (STARTTLS, {auth}).", flush=True)
    if status.tracking_url:
        print(f"Tracking links point to {status.tracking_url}.", flush=True)
    if status.inbound_address:
        print(f"Receiving mail for the dedicated domains on {status.inbound_address}.", flush=True)
    print("Press Ctrl-C to stop.", flush=True)
    try:
        await stop.wait()
    finally:
        print("Stopping the relay…", flush=True)
        await relay.stop()


def main(argv: list[str] | None = None) -> int:
    """Run only this command (``python -m postdesk.cli.relay``)."""
    from postdesk.cli.output import fail
    from postdesk.cli.parser import OneLineParser
    from postdesk.core.errors import UserError
    from postdesk.core.logs import setup_logging

    parser = OneLineParser(prog="postdesk relay")
    add_arguments(parser)
    try:
        setup_logging()
        return run(parser.parse_args(argv))
    except UserError as exc:
        return fail(exc)
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
