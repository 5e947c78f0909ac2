"""The command line's test send through a service, without the store's ORM.

A test send is a few milliseconds of SMTP on a good connection; importing SQLAlchemy and the
models to read one service and keep one result would cost several times that. On an
up-to-date SQLite workspace this reads what the send needs with ``store.lite`` (the service, the
sender's domain, its DKIM key), reads the secrets through the one gateway, runs the same
conversation as ``sending.send_through_service`` and keeps its result with ``store.litewrite``.

:func:`plan` returns None whenever the normal path must run instead (PostgreSQL, an older
schema, an unknown service or a sender Postdesk would refuse — the normal path explains those),
and the record falls back to the ORM when the light write cannot do it identically.
"""

from __future__ import annotations

import asyncio
from email.message import EmailMessage
from email.policy import SMTP
from typing import NamedTuple

from postdesk.core.sending import (
    OnLine,
    TestEmail,
    _domain_of,
    _endpoint,
    _summary,
    final_reply,
    record_outcome,
    signer_for,
)
from postdesk.core.servicesecret import service_password
from postdesk.core.serviceview import ServiceView
from postdesk.core.smtptest import TestResult, build_test_message, run_test
from postdesk.core.store import lite
from postdesk.core.store.litewrite import TestSendOutcome, record_test_send


class Plan(NamedTuple):
    """What a test send through a service needs from the workspace."""

    service: ServiceView
    domain_id: int | None  # the sender's dedicated domain (None: the service's own address)
    key: lite.DkimKeyRef | None  # the domain's signing key, if it has an active one


def plan(service_name: str, from_addr: str) -> Plan | None:
    """Read what the send needs on the light path; None: take the normal path."""

    def read(reader: lite.LiteReader) -> Plan | None:
        service = reader.service_named(service_name)
        if service is None:
            return None
        domain = _domain_of(from_addr)
        domain_id = reader.domain_id(domain)
        if domain_id is None:
            own = "@" in service.username and _domain_of(service.username) == domain
            return Plan(service, None, None) if own else None
        return Plan(service, domain_id, reader.signing_key(domain_id))

    return lite.read_or_none(read)


def send_through_service(
    planned: Plan, email: TestEmail, *, on_line: OnLine | None = None
) -> TestResult:
    """As ``sending.send_through_service``, with the workspace already read into ``planned``.

    Blocking, for the command line: nothing else runs meanwhile, so the keyring read and the
    record are done around the conversation's event loop instead of being handed to threads.
    """
    message = build_test_message(
        email.from_addr, email.to_addr, email.subject, email.text, email.html
    )
    service = planned.service
    password = service_password(service)
    key = planned.key
    signer = signer_for(key.domain, key.selector, key.secret_ref) if key is not None else None
    conversation = run_test(_endpoint(service, password), message, on_line=on_line, signer=signer)
    result = asyncio.run(conversation)
    outcome = outcome_of(service, planned.domain_id, message, result)
    if not record_test_send(outcome):
        _record_on_normal_path(planned, message, result)
    return result


def outcome_of(
    service: ServiceView, domain_id: int | None, message: EmailMessage, result: TestResult
) -> TestSendOutcome:
    """What ``sending.record_outcome`` keeps of a test send, as plain values for the light write."""
    code, reply = final_reply(result)
    return TestSendOutcome(
        service_id=service.id,
        service_name=service.name,
        ok=result.ok,
        category=result.category,
        summary=_summary(result),
        domain_id=domain_id,
        raw=message.as_bytes(policy=SMTP),
        mail_from=str(message["From"].addresses[0].addr_spec),
        rcpt_to=str(message["To"].addresses[0].addr_spec),
        subject=str(message["Subject"]),
        message_id_header=str(message["Message-ID"]),
        reply_code=code,
        reply=reply,
    )


def _record_on_normal_path(planned: Plan, message: EmailMessage, result: TestResult) -> None:
    from postdesk.core.store import open_store

    store = open_store()
    try:
        record_outcome(store, planned.service, planned.domain_id, message, result)
    finally:
        store.close()
