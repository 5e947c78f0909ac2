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
    import asyncio

    from postdesk.cli.domain import print_report
    from postdesk.core.dnscheck import diagnose_domain
    from postdesk.core.dnscheck.mxtls import MxTlsOptions
    from postdesk.core.dnscheck.newer import NewerOptions
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
