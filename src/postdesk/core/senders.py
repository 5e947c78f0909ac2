"""Sender addresses: the From addresses a domain's SMTP users may use, each confirmed by a code.

A domain's ``sender_policy`` is "any" (any address on the domain, the default) or "listed" (only
confirmed addresses; the relay refuses the others with a reply naming the fix). Adding an
address sends a six-digit code to it through the domain's service; the code is kept only as a
salted scrypt hash, expires after :data:`CODE_LIFETIME`, and a few wrong tries void it. When
the address is on a domain whose mail Postdesk receives, the code mail lands in Conversations
and :func:`pick_up_code` confirms the address without anyone typing it.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import hashlib
import hmac
import re
import secrets as _random
from dataclasses import dataclass
from email.message import EmailMessage
from email.policy import SMTP

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from postdesk.core import audit, outgoing
from postdesk.core.domains import get_domain, lookup_name
from postdesk.core.errors import UserError
from postdesk.core.relay import queue
from postdesk.core.relay.addresses import shown
from postdesk.core.relay.headers import read as read_headers
from postdesk.core.store import Store
from postdesk.core.store.models import (
    AuditEvent,
    DedicatedDomain,
    InboundMessage,
    SenderAddress,
    utcnow,
)
from postdesk.core.validation import normalize_email, quote_input

POLICIES = ("any", "listed")
CODE_LIFETIME = dt.timedelta(hours=24)
RESEND_AFTER = dt.timedelta(seconds=60)  # at most one code a minute per address
CODES_PER_DAY = 5  # and a handful a day: the code mail must not become a way to spam someone
MAX_WRONG = 5  # wrong codes before the code is void and a new one must be sent
CONFIRM_HEADER = "X-Postdesk-Sender-Confirmation"
_SCRYPT = {"n": 2**14, "r": 8, "p": 1}
_CODE = re.compile(r"(?<!\d)(\d{6})(?!\d)")


@dataclass(frozen=True)
class SenderView:
    """One sender address as listings show it."""

    address: str
    domain: str
    status: str  # pending | verified
    created_at: dt.datetime
    code_sent_at: dt.datetime | None
    verified_at: dt.datetime | None

    def as_dict(self) -> dict[str, object]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


def _view(row: SenderAddress, domain: str) -> SenderView:
    return SenderView(
        row.address, domain, row.status, row.created_at, row.code_sent_at, row.verified_at
    )


def _hash_code(code: str) -> str:
    salt = _random.token_bytes(16)
    digest = hashlib.scrypt(code.encode("ascii"), salt=salt, **_SCRYPT)
    return f"scrypt${salt.hex()}${digest.hex()}"


def _code_matches(code: str, stored: str | None) -> bool:
    if not stored or not code.isdigit() or len(code) != 6:
        return False
    _, salt, digest = stored.split("$")
    given = hashlib.scrypt(code.encode("ascii"), salt=bytes.fromhex(salt), **_SCRYPT)
    return hmac.compare_digest(given.hex(), digest)


def domain_for(session: Session, address: str) -> DedicatedDomain:
    """The dedicated domain an address is on (its own name, or a parent of its host)."""
    host = lookup_name(address.rpartition("@")[2])
    candidates = [host]
    while "." in candidates[-1]:
        candidates.append(candidates[-1].split(".", 1)[1])
    domain = session.scalars(
        select(DedicatedDomain)
        .where(DedicatedDomain.name.in_(candidates))
        .order_by(func.length(DedicatedDomain.name).desc())
    ).first()
    if domain is None:
        raise UserError(
            "sender.domain_unknown",
            f"{quote_input(address)} is not on one of your dedicated domains.",
            "Sender addresses belong to a dedicated domain; add the domain first.",
        )
    return domain


def _normalized(address: str) -> str:
    return normalize_email(address).lower()


def _find(session: Session, address: str) -> SenderAddress:
    row = session.scalars(select(SenderAddress).where(SenderAddress.address == address)).first()
    if row is None:
        raise UserError(
            "sender.not_found",
            f"{quote_input(address)} is not one of your sender addresses.",
            "Add it first with 'postdesk sender add'.",
        )
    return row


def _audit_count(session: Session, action: str, address: str, since: dt.datetime) -> int:
    return int(
        session.scalar(
            select(func.count(AuditEvent.id)).where(
                AuditEvent.action == action,
                AuditEvent.subject == address,
                AuditEvent.at >= since,
            )
        )
        or 0
    )


def _code_message(domain: str, address: str, code: str) -> tuple[bytes, str]:
    msg = EmailMessage()
    message_id = email.utils.make_msgid(domain=domain)
    msg["From"] = f"Postdesk <no-reply@{domain}>"
    msg["To"] = address
    msg["Subject"] = f"Confirm {address} as a sender address"
    msg["Date"] = email.utils.formatdate(usegmt=True)
    msg["Message-ID"] = message_id
    msg[CONFIRM_HEADER] = address
    msg.set_content(
        f"Your confirmation code is {code}\n\n"
        f"Enter it in Postdesk (Sender addresses) to let SMTP users send as {address}.\n"
        "The code expires in 24 hours. If you did not ask for it, ignore this email.\n"
    )
    return msg.as_bytes(policy=SMTP), message_id


def add_sender(store: Store, address: str, *, now: dt.datetime | None = None) -> SenderView:
    """Add a sender address (or ask for a new code) and queue its confirmation code."""
    address = _normalized(address)
    now = now or utcnow()
    queued: list[outgoing.Queued] = []
    with queue.writing(store), store.session() as s:
        domain = domain_for(s, address)
        if domain.status != "verified":
            raise UserError(
                "sender.domain_unverified",
                f"{domain.name} is not verified yet, so no code can be sent from it.",
                "Publish its records and press Verify Now first.",
            )
        row = s.scalars(select(SenderAddress).where(SenderAddress.address == address)).first()
        if row is not None and row.status == "verified":
            raise UserError(
                "sender.already_confirmed", f"{address} is already a confirmed sender address."
            )
        _check_rate(s, row, address, now)
        if row is None:
            row = SenderAddress(domain_id=domain.id, address=address, status="pending")
            s.add(row)
        code = f"{_random.randbelow(10**6):06d}"
        row.code_hash = _hash_code(code)
        row.code_sent_at = now
        raw, message_id = _code_message(domain.name, address, code)
        queued.append(
            outgoing.queue_message(
                s,
                domain,
                mail_from=f"no-reply@{domain.name}",
                rcpt_tos=[address],
                raw=raw,
                source="confirm",
                subject=f"Confirm {address} as a sender address",
                message_id=message_id,
                now=now,
            )
        )
        audit.record(s, "sender.code_sent", address, domain=domain.name).at = now
        view = _view(row, domain.name)
    outgoing.after_commit(store, queued)
    return view


def _check_rate(
    session: Session, row: SenderAddress | None, address: str, now: dt.datetime
) -> None:
    if row is not None and row.code_sent_at is not None and now - row.code_sent_at < RESEND_AFTER:
        wait = int((RESEND_AFTER - (now - row.code_sent_at)).total_seconds()) + 1
        raise UserError(
            "sender.too_soon",
            f"A code was sent to {address} moments ago.",
            f"Check that mailbox, or ask for a new code in {wait} seconds.",
        )
    if _audit_count(session, "sender.code_sent", address, now - dt.timedelta(days=1)) >= (
        CODES_PER_DAY
    ):
        raise UserError(
            "sender.too_many_codes",
            f"{CODES_PER_DAY} codes were sent to {address} in the last 24 hours.",
            "Use the last code sent, or try again tomorrow.",
        )


def _try_code(session: Session, row: SenderAddress, code: str, now: dt.datetime) -> str | None:
    """Confirm the row with ``code``; the reason it was not confirmed otherwise."""
    if row.status == "verified":
        return None
    if row.code_hash is None or row.code_sent_at is None:
        return "no code is waiting for it"
    if now - row.code_sent_at > CODE_LIFETIME:
        return "its code has expired"
    if _audit_count(session, "sender.wrong_code", row.address, row.code_sent_at) >= MAX_WRONG:
        return "too many wrong codes were tried"
    if not _code_matches(code.strip(), row.code_hash):
        # Dated like the try, so the count since the code was sent is right.
        audit.record(session, "sender.wrong_code", row.address).at = now
        return "the code is not the one sent"
    row.status = "verified"
    row.verified_at = now
    row.code_hash = None
    audit.record(session, "sender.confirmed", row.address).at = now
    return None


def confirm_sender(
    store: Store, address: str, code: str, *, now: dt.datetime | None = None
) -> SenderView:
    """Confirm a pending sender address with the code that was sent to it."""
    address = _normalized(address)
    now = now or utcnow()
    with store.session() as s:
        row = _find(s, address)
        problem = _try_code(s, row, code, now)
        domain = s.get(DedicatedDomain, row.domain_id)
        view = _view(row, domain.name if domain else "")
    # The wrong try is committed above, so it counts even though the command fails.
    if problem:
        raise UserError(
            "sender.not_confirmed",
            f"{address} was not confirmed: {problem}.",
            "Send a new code with 'postdesk sender add' if it expired or was tried too often.",
        )
    return view


def list_senders(store: Store, domain: str | None = None) -> list[SenderView]:
    """Sender addresses, of one domain or all, by domain and address."""
    with store.session() as s:
        query = select(SenderAddress, DedicatedDomain.name).join(
            DedicatedDomain, DedicatedDomain.id == SenderAddress.domain_id
        )
        if domain is not None:
            query = query.where(DedicatedDomain.id == get_domain(s, domain).id)
        rows = s.execute(query.order_by(DedicatedDomain.name, SenderAddress.address)).all()
        return [_view(row, name) for row, name in rows]


def remove_sender(store: Store, address: str) -> None:
    """Remove a sender address (with the "listed" policy, it can no longer be used)."""
    with store.session() as s:
        row = _find(s, _normalized(address))
        s.delete(row)
        audit.record(s, "sender.removed", row.address)


def set_policy(store: Store, domain: str, policy: str) -> int:
    """Set which From addresses the domain's SMTP users may use; returns how many are confirmed."""
    if policy not in POLICIES:
        raise UserError(
            "sender.policy", f"{quote_input(policy)} is not a sender policy.", "Use any or listed."
        )
    with store.session() as s:
        row = get_domain(s, domain)
        row.sender_policy = policy
        audit.record(s, "sender.policy", row.name, policy=policy)
        return _confirmed_count(s, row.id)


def get_policy(store: Store, domain: str) -> tuple[str, int]:
    """The domain's sender policy and how many of its sender addresses are confirmed."""
    with store.session() as s:
        row = get_domain(s, domain)
        return row.sender_policy, _confirmed_count(s, row.id)


def _confirmed_count(session: Session, domain_id: int) -> int:
    return int(
        session.scalar(
            select(func.count(SenderAddress.id)).where(
                SenderAddress.domain_id == domain_id, SenderAddress.status == "verified"
            )
        )
        or 0
    )


def refusal(session: Session, domain: DedicatedDomain, addresses: list[str]) -> str | None:
    """The relay's reply refusing a sender the domain's policy does not allow (None: allowed)."""
    if domain.sender_policy != "listed":
        return None
    wanted = {a.strip().strip("<>").lower() for a in addresses if a and "@" in a}
    if not wanted:
        return None
    confirmed = set(
        session.scalars(
            select(SenderAddress.address).where(
                SenderAddress.address.in_(wanted), SenderAddress.status == "verified"
            )
        )
    )
    for address in sorted(wanted - confirmed):
        return (
            f"550 5.7.1 <{shown(address)}> is not a confirmed sender address for "
            f"{domain.name}; confirm it in Postdesk (Sender addresses)"
        )
    return None


def pick_up_code(session: Session, inbound_id: int) -> bool:
    """Confirm a pending sender address from its code mail received into Conversations.

    Only a message carrying the confirmation header for one of its recipients is read, so an
    ordinary mail with a six-digit number in it never counts as a wrong try.
    """
    message = session.get(InboundMessage, inbound_id)
    if message is None or message.direction != "in":
        return False
    named = (read_headers(message.raw).first(CONFIRM_HEADER) or "").strip().lower()
    recipients = {r.strip().lower() for r in message.rcpt_tos or []}
    if not named or (recipients and named not in recipients):
        return False
    row = session.scalars(
        select(SenderAddress).where(
            SenderAddress.address == named, SenderAddress.status == "pending"
        )
    ).first()
    if row is None:
        return False
    now = utcnow()
    # The code mail is ours: its code is the first six-digit number of its text.
    found = _CODE.search(message.body_text or plain_text(message.raw))
    return found is not None and _try_code(session, row, found.group(1), now) is None


def plain_text(raw: bytes) -> str:
    """The plain-text body of a message (for when Conversations kept no text of its own)."""
    from email import message_from_bytes
    from email.policy import default

    parsed = message_from_bytes(raw, policy=default)
    part = parsed.get_body(preferencelist=("plain",))  # type: ignore[attr-defined]
    return str(part.get_content()) if part is not None else ""
