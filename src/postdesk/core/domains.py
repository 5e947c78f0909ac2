"""Dedicated domains: Add & Verify, the records to publish, live verification and its history.

The checkers in ``dnscheck`` are pure; this module is the workflow that feeds them what is expected
and records what they found.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session, joinedload, selectinload
from sqlalchemy.sql.base import ExecutableOption

from postdesk.core import audit, dkimkeys, domainname, recordgen, secrets, settings
from postdesk.core.dkimrotation import promote_verified_keys
from postdesk.core.errors import UserError
from postdesk.core.records import ExpectedRecord, Problem
from postdesk.core.services import default_service, service_named
from postdesk.core.store import Store
from postdesk.core.store.models import (
    DedicatedDomain,
    DkimKey,
    DnsCheck,
    DomainRecord,
    SmtpService,
    SmtpUser,
    utcnow,
)
from postdesk.core.validation import quote_input
from postdesk.core.views import CheckView, DomainView

PENDING_RECHECK_FOR = dt.timedelta(hours=72)
FIRST_RECHECK = dt.timedelta(minutes=5)
LONGEST_RECHECK = dt.timedelta(hours=6)
VERIFIED_RECHECK = dt.timedelta(days=1)
FAILING_RECHECK = dt.timedelta(hours=1)


@dataclass
class VerifyOutcome:
    """The report of one Verify Now, the domain's status after it, and whether it just broke.

    When DNS could not be asked (``checked`` is False) nothing changed: ``status`` is the
    status the domain already had.
    """

    report: object  # dnscheck's DomainReport (kept loose: core.dnscheck owns that type)
    status: str
    regressed: bool
    checked: bool = True


@dataclass(frozen=True)
class _VerifyJob:
    """What Verify Now needs from the store, read in one go off the event loop."""

    name: str
    expected: list[ExpectedRecord]
    spf_include: str | None
    service: str | None
    key_selector: str | None
    key_ref: str | None
    key_public: str | None
    # (include, service, logins) of the services some SMTP users send through instead.
    user_includes: tuple[tuple[str, str, str], ...] = ()


def lookup_name(text: str) -> str:
    """The stored (A-label) form of a domain name, for comparing; never raises.

    A name that is not valid (a hidden character, a URL) is only trimmed and lowercased, so it
    matches no stored domain.
    """
    return domainname.canonical(text)


def get_domain(session: Session, name: str, *load: ExecutableOption) -> DedicatedDomain:
    """The dedicated domain with this name (Unicode or A-label), or a UserError.

    A name ``domain add`` would refuse (a hidden character, a URL…) is refused the same way.
    Relations are never loaded implicitly: pass the loader options (``selectinload(…)``) for
    the ones the caller reads.
    """
    domain = session.scalars(
        select(DedicatedDomain)
        .where(DedicatedDomain.name == domainname.to_a_label(name))
        .options(*load)
    ).first()
    if domain is None:
        raise UserError(
            "domain.not_found",
            f"{quote_input(name)} is not one of your dedicated domains.",
            "Add it first with Add Domain (or 'postdesk domain add').",
        )
    return domain


def list_domains(store: Store) -> list[DomainView]:
    """All dedicated domains, by name."""
    with store.session() as s:
        query = (
            select(DedicatedDomain)
            .options(joinedload(DedicatedDomain.service))
            .order_by(DedicatedDomain.name)
        )
        return [domain_view(d) for d in s.scalars(query)]


def domain_view(domain: DedicatedDomain) -> DomainView:
    """The read model of a domain whose ``service`` relation the caller loaded."""
    return DomainView.from_row(domain, domain.service.name if domain.service else None)


def existing_names(store: Store) -> list[str]:
    """Names already added, for duplicate checks in the Add Domain dialog."""
    with store.session() as s:
        return list(s.scalars(select(DedicatedDomain.name)))


def check_new_domain(store: Store, text: str) -> str:
    """Validate what the user typed in Add Domain; returns the A-label or raises UserError."""
    return domainname.normalize_domain(text, existing=existing_names(store))


def _service(session: Session, name: str | None) -> SmtpService | None:
    if name is None:
        return default_service(session)
    return service_named(session, name)


@dataclass(frozen=True)
class _AddPlan:
    """What Add & Verify needs from the store before it asks DNS: the service and the targets."""

    service_id: int | None
    service: str | None
    spf_include: str | None
    spf_extra: list[str]
    targets: dict[str, str | None]


async def add_domain(store: Store, text: str, *, service_name: str | None = None) -> DomainView:
    """Add & Verify: validate, generate the records (merging any SPF/DMARC already published).

    The store and the keyring are used from a worker thread, never on the event loop.
    """
    name = await asyncio.to_thread(check_new_domain, store, text)
    # An unusable keyring stops here, before DNS queries, key generation and any row.
    await asyncio.to_thread(secrets.require_storage)
    plan = await asyncio.to_thread(_add_plan, store, service_name)
    existing_spf, existing_dmarc = await published_policies(name)
    key = await asyncio.to_thread(dkimkeys.generate_dkim_key)
    records = recordgen.build_expected_records(
        name,
        ownership_token=(token := recordgen.new_ownership_token()),
        spf_include=plan.spf_include,
        spf_extra=plan.spf_extra,
        dkim_selector=key.selector,
        dkim_public_b64=key.public_b64,
        existing_spf=existing_spf,
        existing_dmarc=existing_dmarc,
        dmarc_rua=plan.targets["dmarc_rua"],
        return_path_target=plan.targets["return_path_target"],
        tracking_target=plan.targets["tracking_target"],
        mx_target=plan.targets["mx_target"],
    )
    ref = secrets.new_secret_ref("dkim")
    await asyncio.to_thread(secrets.store_secret, ref, key.private_pem)
    try:
        return await asyncio.to_thread(_insert_domain, store, name, plan, token, key, ref, records)
    except BaseException:
        await asyncio.to_thread(secrets.delete_secret, ref)  # no key without its domain
        raise


def _add_plan(store: Store, service_name: str | None) -> _AddPlan:
    with store.session() as s:
        service = _service(s, service_name)
        return _AddPlan(
            service.id if service else None,
            service.name if service else None,
            service.spf_include if service else None,
            list(service.spf_extra) if service else [],
            {
                k: settings.get(s, k)
                for k in ("return_path_target", "tracking_target", "mx_target", "dmarc_rua")
            },
        )


def _insert_domain(
    store: Store,
    name: str,
    plan: _AddPlan,
    token: str,
    key: dkimkeys.DkimKey,
    ref: str,
    records: list[ExpectedRecord],
) -> DomainView:
    with store.session() as s:
        domain = DedicatedDomain(
            name=name,
            service_id=plan.service_id,
            ownership_token=token,
            dkim_selector=key.selector,
            next_check_at=utcnow() + FIRST_RECHECK,
        )
        domain.records = [_record_row(i, r) for i, r in enumerate(records)]
        domain.dkim_keys = [
            DkimKey(selector=key.selector, bits=key.bits, public_key=key.public_b64, secret_ref=ref)
        ]
        s.add(domain)
        s.flush()
        audit.record(s, "domain.added", name, selector=key.selector)
        return DomainView.from_row(domain, plan.service)


def _record_row(position: int, record: ExpectedRecord) -> DomainRecord:
    return DomainRecord(
        position=position,
        kind=record.kind,
        type=record.type,
        host=record.host,
        value=record.value,
        required=record.required,
    )


async def published_policies(name: str) -> tuple[str | None, str | None]:
    """The SPF and DMARC records a domain already publishes (None each when absent or unknown).

    Used to propose one merged SPF record and to keep a valid DMARC record. When DNS cannot be
    asked, Postdesk proposes fresh records; Verify Now later reports any conflict.
    """
    from postdesk.core.dnscheck import make_client

    client = make_client()
    spf, dmarc = await asyncio.gather(
        client.query(name, "TXT"), client.query(f"_dmarc.{name}", "TXT")
    )
    return _single(spf.values, "v=spf1"), _single(dmarc.values, "v=dmarc1")


def _single(values: tuple[str, ...], prefix: str) -> str | None:
    """The one value starting with ``prefix`` (none when there are zero or several)."""
    found = [v for v in values if v.lower().startswith(prefix)]
    return found[0] if len(found) == 1 else None


def expected_records(store: Store, name: str) -> tuple[str, list[ExpectedRecord]]:
    """The domain's stored name and the records it must publish, in the order to work through."""
    with store.session() as s:
        domain = get_domain(s, name, selectinload(DedicatedDomain.records))
        return domain.name, [_expected(r) for r in domain.records]


def _expected(row: DomainRecord) -> ExpectedRecord:
    return ExpectedRecord(row.kind, row.type, row.host, row.value, row.required)  # type: ignore[arg-type]


async def verify_domain(store: Store, name: str) -> VerifyOutcome:
    """Verify Now: check every record live and store the result with its history.

    The store and the keyring are used from a worker thread, never on the event loop. The
    domain is not verified while its active DKIM key can't be read; a check DNS could not
    answer changes no status.
    """
    from postdesk.core.dnscheck import verify_records

    job = await asyncio.to_thread(_verify_job, store, name)
    key_problem = await asyncio.to_thread(_signing_key_problem, job)
    report = await verify_records(
        job.name,
        job.expected,
        spf_include=job.spf_include,
        service=job.service,
        user_includes=job.user_includes,
    )
    if key_problem is not None:
        _add_key_problem(report, job, key_problem)
    return await asyncio.to_thread(record_check, store, job.name, report)


def _verify_job(store: Store, name: str) -> _VerifyJob:
    with store.session() as s:
        domain = get_domain(
            s,
            name,
            joinedload(DedicatedDomain.service),
            selectinload(DedicatedDomain.records),
            selectinload(DedicatedDomain.dkim_keys),
        )
        active = next((k for k in domain.dkim_keys if k.state == "active"), None)
        return _VerifyJob(
            domain.name,
            [_expected(r) for r in domain.records],
            domain.service.spf_include if domain.service else None,
            domain.service.name if domain.service else None,
            active.selector if active else None,
            active.secret_ref if active else None,
            active.public_key if active else None,
            _user_includes(s, domain),
        )


def _user_includes(session: Session, domain: DedicatedDomain) -> tuple[tuple[str, str, str], ...]:
    """(include, service, logins) of the other services the domain's live SMTP users send
    through (``smtp-user edit --service``): the domain's SPF record must include them too."""
    rows = session.execute(
        select(SmtpService.spf_include, SmtpService.name, SmtpUser.login)
        .join(SmtpUser, SmtpUser.service_id == SmtpService.id)
        .where(
            SmtpUser.domain_id == domain.id,
            SmtpUser.deleted_at.is_(None),
            SmtpService.spf_include.is_not(None),
            SmtpService.id != (domain.service_id or 0),
        )
        .order_by(SmtpService.name, SmtpUser.login)
    ).all()
    found: dict[tuple[str, str], list[str]] = {}
    for include, service, login in rows:
        found.setdefault((include or "", service), []).append(login)
    return tuple((inc, svc, ", ".join(logins)) for (inc, svc), logins in found.items())


def _signing_key_problem(job: _VerifyJob) -> Problem | None:
    """Why the active DKIM key can't sign (missing or damaged in the keyring), or None.

    A keyring that can't be used at all raises its own UserError: that is not the key's fault.
    """
    if job.key_ref is None:
        return None
    try:
        private = secrets.read_secret(job.key_ref)
    except secrets.SecretsUnavailable:
        raise
    except UserError as err:  # a sealed key whose encrypted part is gone or damaged
        return _unreadable(job, err.message.rstrip("."))
    if private is None:
        return _unreadable(job, "it is no longer in the keyring")
    try:
        matches = dkimkeys.public_b64_from_private(private) == job.key_public
    except (ValueError, TypeError):
        return _unreadable(job, "what is stored is not a usable private key")
    return None if matches else _unreadable(job, "what is stored belongs to another key")


def _unreadable(job: _VerifyJob, reason: str) -> Problem:
    from postdesk.core.dnscheck.messages import problem

    return problem("dkim.key_unreadable", domain=job.name, selector=job.key_selector, reason=reason)


def _add_key_problem(report, job: _VerifyJob, found: Problem) -> None:  # type: ignore[no-untyped-def]
    """Put the key problem on the DKIM record it concerns; the domain then fails."""
    host = domainname.dkim_host(job.key_selector or "", job.name)
    dkim = [r for r in report.records if r.kind == "dkim"]
    target = next((r for r in dkim if r.host == host), dkim[0] if dkim else None)
    if target is not None:
        target.problems.insert(0, found)
    report.status = "failing"


def record_check(store: Store, name: str, report) -> VerifyOutcome:  # type: ignore[no-untyped-def]
    """Store one verification result and its history entry (blocking: call from a thread).

    A report DNS could not answer (status "error") goes to the history only: the domain keeps
    its status, its records their states, and it is checked again soon.
    """
    now = utcnow()
    with store.session() as s:
        # promote_verified_keys reads (and may change) the keys and records too.
        domain = get_domain(
            s, name, selectinload(DedicatedDomain.records), selectinload(DedicatedDomain.dkim_keys)
        )
        checked = report.status != "error"
        status = _status_of(report) if checked else "error"
        s.add(DnsCheck(domain_id=domain.id, checked_at=now, status=status, report=report.as_dict()))
        if not checked:  # nothing was learnt about the domain: keep its state, ask again soon
            domain.next_check_at = now + FIRST_RECHECK
            return VerifyOutcome(report, domain.status, False, checked=False)
        was_verified = domain.status == "verified"
        by_host = {(r.kind, r.host): r.status for r in report.records}
        for row in domain.records:
            row.status = by_host.get((row.kind, row.host), row.status)
        domain.status, domain.last_checked_at = status, now
        domain.check_attempts += 1
        if status == "verified" and not was_verified:
            domain.verified_at = now
            audit.record(s, "domain.verified", name)
        regressed = was_verified and status != "verified"
        if regressed:
            audit.record(s, "domain.broke", name, problems=_problem_codes(report))
        domain.next_check_at = _next_check(domain, now)
        retired = promote_verified_keys(s, domain, report.records)
    for ref in retired:  # the old key no longer signs: its private half leaves the keyring
        secrets.delete_secret(ref)
    return VerifyOutcome(report, status, regressed)


def _status_of(report) -> str:  # type: ignore[no-untyped-def]
    return "verified" if report.status == "verified" else "failing"


def _problem_codes(report) -> list[str]:  # type: ignore[no-untyped-def]
    return sorted({p.code for r in report.records for p in r.problems})


def _next_check(domain: DedicatedDomain, now: dt.datetime) -> dt.datetime | None:
    """Pending domains back off (for up to 72 h), verified ones are re-checked daily."""
    if domain.status == "verified":
        return now + VERIFIED_RECHECK
    if domain.verified_at is not None:
        return now + FAILING_RECHECK
    if now - domain.created_at > PENDING_RECHECK_FOR:
        return None
    return now + min(FIRST_RECHECK * 2 ** min(domain.check_attempts, 10), LONGEST_RECHECK)


def due_for_check(store: Store, now: dt.datetime | None = None) -> list[str]:
    """Domains whose scheduled re-check time has come."""
    now = now or utcnow()
    with store.session() as s:
        query = select(DedicatedDomain.name).where(DedicatedDomain.next_check_at <= now)
        return list(s.scalars(query))


def check_history(store: Store, name: str, limit: int = 20) -> list[CheckView]:
    """The latest verification results of a domain, newest first."""
    with store.session() as s:
        domain = get_domain(s, name)
        query = (
            select(DnsCheck)
            .where(DnsCheck.domain_id == domain.id)
            .order_by(DnsCheck.checked_at.desc())
            .limit(limit)
        )
        return [CheckView.from_row(row) for row in s.scalars(query)]


def remove_domain(store: Store, name: str) -> None:
    """Remove a domain with its records, keys and SMTP users (their keyring entries too)."""
    with store.session() as s:
        # Deleting cascades to every relation, so all of them are loaded here.
        domain = get_domain(
            s,
            name,
            selectinload(DedicatedDomain.records),
            selectinload(DedicatedDomain.dkim_keys),
            selectinload(DedicatedDomain.checks),
            selectinload(DedicatedDomain.smtp_users),
        )
        refs = [k.secret_ref for k in domain.dkim_keys]
        refs += [u.secret_ref for u in domain.smtp_users if u.secret_ref]
        for user in list(domain.smtp_users):
            s.delete(user)
        s.delete(domain)
        audit.record(s, "domain.removed", domain.name)
        s.flush()
        for ref in refs:  # inside the transaction: a keyring failure keeps the rows too
            secrets.delete_secret(ref)


def shown_name(name: str) -> str:
    """The Unicode form of a stored domain name, for display."""
    return domainname.display_domain(name)
