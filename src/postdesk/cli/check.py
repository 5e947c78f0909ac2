"""``postdesk check``: SPF, DKIM, DMARC and MX of any domain — nothing is stored."""

from __future__ import annotations

import argparse

from postdesk.cli.output import fail, print_json
from postdesk.cli.reportout import add_format_option, print_report_as
from postdesk.core.errors import UserError


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("check", help="diagnose any domain's SPF, DKIM, DMARC and MX")
    parser.add_argument("domain")
    parser.add_argument(
        "--dkim-selector",
        action="append",
        default=[],
        metavar="S",
        help="a DKIM selector to check (repeatable)",
    )
    parser.add_argument(
        "--no-mx-tls",
        action="store_true",
        help="do not try STARTTLS on the MX hosts (port 25 is often blocked from desktops)",
    )
    parser.add_argument("--json", action="store_true")
    add_format_option(parser)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    # One domain's check is over in a fraction of a second: no cycle collector (see brief.py).
    from postdesk.cli.brief import run_briefly

    return run_briefly(lambda: _check(args))


def _check(args: argparse.Namespace) -> int:
    _defer_package_metadata()
    import asyncio

    from postdesk.cli.domain import print_report
    from postdesk.core.dnscheck import diagnose_domain
    from postdesk.core.dnscheck.newer import NewerOptions
    from postdesk.core.dnscheck.options import MxTlsOptions
    from postdesk.core.domainname import check_selector, normalize_domain

    name = normalize_domain(args.domain)
    try:
        selectors = [check_selector(s, domain=name) for s in args.dkim_selector]
    except UserError as err:  # a usage error, like any other bad argument
        return fail(err, 2)
    newer = NewerOptions(mx_tls=MxTlsOptions(skip=args.no_mx_tls))
    report = asyncio.run(diagnose_domain(name, selectors, newer=newer))
    if args.format:
        from postdesk.core.report import from_domain_report

        print_report_as(from_domain_report(report, tuple(selectors)), args.format)
    elif args.json:
        print_json(report.as_dict())
    else:
        print_report(report, title="DNS check")
    return 0 if report.status == "ok" else 1


def _defer_package_metadata() -> None:
    """Put off importing ``importlib.metadata`` until something really uses it.

    dnspython imports it (with the ``email`` package, ``zipfile`` and ``csv``: ~30 ms, a tenth
    of this command) only to read installed packages' versions, and ``dnscheck`` answers those
    questions itself. A stand-in takes its place in ``sys.modules``; the first attribute asked
    of it imports the real module, which then replaces it. Done in this command only: a process
    that runs one check on one thread, and that nothing else imports into.
    """
    import importlib
    import sys
    import types

    name = "importlib.metadata"
    if name in sys.modules:
        return

    class OnFirstUse(types.ModuleType):
        def __getattr__(self, attribute: str) -> object:
            real = sys.modules.get(name)
            if real is None or real is self:  # the first use: import the real module
                sys.modules.pop(name, None)
                if getattr(importlib, "metadata", None) is self:
                    del importlib.metadata  # type: ignore[attr-defined]
                real = importlib.import_module(name)
            return getattr(real, attribute)  # later uses through an old reference: the same

    stand_in = OnFirstUse(name)
    sys.modules[name] = stand_in
    importlib.metadata = stand_in  # type: ignore[attr-defined]  # as an import binds it
