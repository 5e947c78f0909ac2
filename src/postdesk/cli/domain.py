"""``postdesk domain``: dedicated domains, the records to publish, and Verify Now."""

from __future__ import annotations

import argparse

from postdesk.cli.output import print_json, print_table


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("domain", help="dedicated sending domains and their DNS records")
    sub = parser.add_subparsers(dest="action", metavar="ACTION", required=True)

    add = sub.add_parser("add", help="Add & Verify: add a domain and generate its DNS records")
    add.add_argument("domain")
    add.add_argument("--service", metavar="NAME", help="the SMTP service it sends through")
    add.add_argument("--json", action="store_true")
    add.set_defaults(handler=run_add)

    listing = sub.add_parser("list", help="list domains and their status")
    listing.add_argument("--json", action="store_true")
    listing.set_defaults(handler=run_list)

    records = sub.add_parser("records", help="the DNS records to publish")
    records.add_argument("domain")
    records.add_argument("--format", choices=("table", "json", "zone"), default="table")
    records.set_defaults(handler=run_records)

    verify = sub.add_parser("verify", help="Verify Now: check every record live")
    verify.add_argument("domain")
    verify.add_argument("--json", action="store_true")
    verify.set_defaults(handler=run_verify)

    reception = sub.add_parser(
        "reception", help="receive the domain's mail into Conversations (its MX becomes required)"
    )
    reception.add_argument("domain")
    state = reception.add_mutually_exclusive_group(required=True)
    state.add_argument("--on", dest="on", action="store_true", help="receive mail")
    state.add_argument("--off", dest="on", action="store_false", help="stop receiving mail")
    reception.add_argument("--json", action="store_true")
    reception.set_defaults(handler=run_reception)

    one_click = sub.add_parser(
        "unsubscribe", help="one-click unsubscribe headers (RFC 8058) on the domain's mail"
    )
    one_click.add_argument("domain")
    switch = one_click.add_mutually_exclusive_group()
    switch.add_argument("--on", dest="on", action="store_const", const=True, help="add them")
    switch.add_argument("--off", dest="on", action="store_const", const=False, help="stop")
    one_click.add_argument("--json", action="store_true")
    one_click.set_defaults(handler=run_unsubscribe)

    remove = sub.add_parser("remove", help="remove a domain, its keys and SMTP users")
    remove.add_argument("domain")
    remove.set_defaults(handler=run_remove)


def _store():  # type: ignore[no-untyped-def]
    from postdesk.core.store import open_store

    return open_store()


def run_add(args: argparse.Namespace) -> int:
    import asyncio

    from postdesk.core import domains, recordgen

    store = _store()
    domain = asyncio.run(domains.add_domain(store, args.domain, service_name=args.service))
    name, records = domains.expected_records(store, domain.name)
    if args.json:
        print_json(
            {"domain": name, "status": domain.status, "records": [r.as_dict() for r in records]}
        )
        return 0
    print(
        f"Added {domains.shown_name(name)}. Publish these records at your DNS host, "
        f"then run: postdesk domain verify {name}\n"
    )
    print(recordgen.records_table(records))
    return 0


def run_list(args: argparse.Namespace) -> int:
    from postdesk.core.store.lite import read_or_none

    summaries = read_or_none(lambda lite: lite.domains())
    if summaries is None:  # not a SQLite workspace at the newest schema: the store opens it
        from postdesk.core import domainview

        summaries = domainview.summaries(_store())
    rows = [
        {
            "domain": d.name,
            "shown": d.shown,
            "status": d.status,
            "service": d.service,
            "checked_at": d.last_checked_at.isoformat() if d.last_checked_at else None,
        }
        for d in summaries
    ]
    if args.json:
        print_json({"domains": rows})
        return 0
    if not rows:
        print("No dedicated domains yet. Add one with: postdesk domain add example.com")
        return 0
    from postdesk.core import domainview

    print_table(
        ["DOMAIN", "STATUS", "SERVICE", "CHECKED"],
        [
            [d.shown, d.status, d.service or "", domainview.checked_ago(d.last_checked_at)]
            for d in summaries
        ],
    )
    return 0


def run_records(args: argparse.Namespace) -> int:
    from postdesk.core import domains, recordgen

    name, records = domains.expected_records(_store(), args.domain)
    if args.format == "json":
        print_json({"domain": name, "records": [r.as_dict() for r in records]})
    elif args.format == "zone":
        print(recordgen.zone_snippet(records), end="")
    else:
        print(recordgen.records_table(records))
    return 0


def run_verify(args: argparse.Namespace) -> int:
    import asyncio

    from postdesk.core import domains

    store = _store()
    outcome = asyncio.run(domains.verify_domain(store, args.domain))
    report = outcome.report
    if args.json:
        print_json({**report.as_dict(), "domain_status": outcome.status})
    else:
        print_report(report, title="Verify Now")
        if not outcome.checked:
            print(
                "\nDNS could not be asked, so nothing was checked and nothing changed: the "
                f"domain is still {outcome.status}. Try again in a few minutes."
            )
        if outcome.regressed:
            print("\nThis domain was verified before; a record has since changed or disappeared.")
    return 0 if outcome.checked and outcome.status == "verified" else 1


def print_report(report, *, title: str) -> None:  # type: ignore[no-untyped-def]
    """A verification or diagnosis report, as the GUI's Copy report gives it."""
    from postdesk.core.reporttext import domain_report_text

    print(domain_report_text(report.as_dict(), title=title), end="")


def run_reception(args: argparse.Namespace) -> int:
    from postdesk.core import domains
    from postdesk.core.inbound.reception import set_reception

    view = set_reception(_store(), args.domain, args.on)
    if args.json:
        print_json(view.as_dict())
        return 0
    shown = domains.shown_name(view.domain)
    if not view.reception:
        print(f"{shown} no longer receives mail; its MX record is optional again.")
        return 0
    print(f"{shown} receives mail into Conversations once its MX record is verified:")
    if view.mx is not None:
        print(f"  {view.mx.host}  MX  {view.mx.value}")
    print(f"Publish it, then run: postdesk domain verify {view.domain}")
    return 0


def run_unsubscribe(args: argparse.Namespace) -> int:
    from postdesk.core import domains, unsubscribe

    store = _store()
    if args.on is None:
        on = unsubscribe.one_click_on(store, args.domain)
    else:
        on = unsubscribe.set_one_click(store, args.domain, args.on)
    name = domains.lookup_name(args.domain)
    if args.json:
        print_json({"domain": name, "one_click_unsubscribe": on})
        return 0
    if on and not _has_tracking_address(store, name):
        # The relay adds the headers only with a public tracking address (the link's host):
        # saying "carries" now would be untrue.
        print(
            f"One-click unsubscribe is on for {domains.shown_name(name)}, but its mail carries "
            "no unsubscribe headers yet: the link needs the domain's tracking address. Set a "
            "public tracking host if there is none (postdesk settings tracking_target HOST), "
            f"publish the tracking CNAME that 'postdesk domain records {name}' lists, then run: "
            f"postdesk domain verify {name}"
        )
    elif on:
        print(
            f"Mail from {domains.shown_name(name)} to a single recipient carries one-click "
            "unsubscribe headers, signed with DKIM."
        )
    else:
        print(f"Mail from {domains.shown_name(name)} carries no one-click unsubscribe headers.")
    return 0


def _has_tracking_address(store, name: str) -> bool:  # type: ignore[no-untyped-def]
    from postdesk.core.tracking import tracking_address

    with store.session() as s:
        return tracking_address(s, name) is not None


def run_remove(args: argparse.Namespace) -> int:
    from postdesk.core import domains

    domains.remove_domain(_store(), args.domain)
    print(f"Removed {args.domain}, its DKIM keys and its SMTP users.")
    return 0
