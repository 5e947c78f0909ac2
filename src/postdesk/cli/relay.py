"""``postdesk relay``: run the built-in relay headless until Ctrl-C or SIGTERM."""

from __future__ import annotations

import argparse
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


def _options(args: argparse.Namespace):  # type: ignore[no-untyped-def]
    from postdesk.core.errors import UserError
    from postdesk.core.relay.options import DEFAULT_TRACKING_PORT, RelayOptions, parse_hostport

    options = RelayOptions(retry_base=args.retry_after, lease=args.lease)
    try:
        if args.listen:
            options.listen_host, options.listen_port = parse_hostport(args.listen)
        if args.no_tracking:
            options.tracking_port = None
        elif args.tracking_listen:
            options.tracking_host, options.tracking_port = parse_hostport(
                args.tracking_listen, DEFAULT_TRACKING_PORT
            )
    except ValueError as exc:
        raise UserError("relay.bad_listen", str(exc), "Write it as HOST:PORT.") from None
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

    relay = Relay(store, options)
    await relay.start()
    status = relay.status
    auth = "AUTH PLAIN/LOGIN" + (" (also without TLS: loopback)" if status.auth_without_tls else "")
    print(f"Relay listening on {status.smtp_address} (STARTTLS, {auth}).", flush=True)
    if status.tracking_url:
        print(f"Tracking links point to {status.tracking_url}.", flush=True)
    print("Press Ctrl-C to stop.", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        # On Windows there are no signal handlers: Ctrl-C arrives as KeyboardInterrupt.
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        print("Stopping the relay…", flush=True)
        await relay.stop()


def main(argv: list[str] | None = None) -> int:
    """Run only this command (``python -m postdesk.cli.relay``)."""
    from postdesk.cli.output import fail
    from postdesk.core.errors import UserError
    from postdesk.core.logs import setup_logging

    parser = argparse.ArgumentParser(prog="postdesk relay")
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
