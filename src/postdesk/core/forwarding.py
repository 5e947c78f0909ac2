"""Forwarding rules, and forwarding a received message to an external inbox (SRS + ARC).

A rule says: mail to ``local@domain`` (or to any address, "*") goes on to ``destination``. A
rule for the exact address wins over the catch-all. Each copy is queued for the relay's worker
like any other mail of the domain (its service, its DKIM signature, its daily count):

- the envelope sender is rewritten with SRS (:mod:`postdesk.core.srs`), so SPF passes at the
  destination and bounces come back to the domain;
- the message itself is untouched — its own DKIM signatures still verify — and only headers are
  added in front: the receiver's ``Authentication-Results`` and an ARC set (dkimpy's
  ``arc_sign`` with the domain's DKIM key), so the destination can trust what Postdesk saw.

Loops stop here: a message that already carries an ARC set of this domain, or more than
:data:`MAX_RECEIVED` ``Received`` lines, is not forwarded again, and a rule can only point
outside the workspace's own domains. Mail to an SRS address of the domain is a bounce of a
forwarded copy: it goes back to the original sender when the address reverses (our hash, not
too old), otherwise it is dropped with a log line. Every decision not to forward is logged and
kept in the audit log.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import re
from dataclasses import dataclass

import dkim
from sqlalchemy import Connection, bindparam, select
from sqlalchemy.orm import Session

from postdesk.core import audit, outgoing, srs
from postdesk.core.domains import get_domain
from postdesk.core.errors import UserError
from postdesk.core.relay import dkimsign, headers, queue
from postdesk.core.senders import pick_up_code
from postdesk.core.store import Store
from postdesk.core.store.models import (
    DedicatedDomain,
    ForwardRule,
    InboundMessage,
    QueuedMessage,
)
from postdesk.core.validation import normalize_email, quote_input

log = logging.getLogger(__name__)

# A confirmation code received for a pending sender address is picked up here too.
__all__ = [
    "add_rule",
    "forward_message",
    "forwarding_domains",
    "list_rules",
    "loop_reason",
    "may_owe",
    "owed_messages",
    "pick_up_code",
    "remove_rule",
]

MAX_RECEIVED = 25  # Received lines beyond which a message is taken to be looping
CATCH_ALL = "*"
# A received message's ``pending`` mark while forwarded copies may be owed: set in the commit
# that files it, cleared in the one that queues its copies. A relay stopped in between (or a
# DKIM key the keyring would not give) leaves the mark, and the copies are queued later.
OWED = "forward"
_LONE_LF = re.compile(rb"(?<!\r)\n")
_ARC_DOMAIN = re.compile(r"(?:^|;)\s*d\s*=\s*([^;\s]+)", re.IGNORECASE)


@dataclass(frozen=True)
class RuleView:
    """One forwarding rule as listings show it."""

    id: int
    domain: str
    local_part: str  # "*" for every address of the domain
    destination: str
    enabled: bool
    created_at: dt.datetime

    @property
    def address(self) -> str:
        return f"{self.local_part}@{self.domain}"

    def as_dict(self) -> dict[str, object]:
        return {
            **{k: getattr(self, k) for k in self.__dataclass_fields__},
            "address": self.address,
        }


def _view(rule: ForwardRule, domain: str) -> RuleView:
    return RuleView(
        rule.id, domain, rule.local_part, rule.destination, rule.enabled, rule.created_at
    )


def _local_part(local: str, domain: str) -> str:
    local = local.strip().lower()
    if local == CATCH_ALL:
        return local
    if "@" in local:
        raise UserError(
            "forward.local_part",
            f"{quote_input(local)} should be only the part before @.",
            f"Give e.g. 'info' for info@{domain}, or * for every address.",
        )
    normalize_email(f"{local}@{domain}")  # the same check as any address
    return local


def add_rule(store: Store, domain: str, local: str, destination: str) -> RuleView:
    """Forward mail to ``local@domain`` ("*": any address of it) to ``destination``."""
    target = normalize_email(destination).lower()
    with store.session() as s:
        row = get_domain(s, domain)
        local = _local_part(local, row.name)
        target_host = target.rpartition("@")[2]
        ours = s.scalars(select(DedicatedDomain.name)).all()
        if any(target_host == name or target_host.endswith("." + name) for name in ours):
            raise UserError(
                "forward.own_domain",
                f"{target} is on one of your dedicated domains, which have no mailboxes.",
                "Forward to an external inbox (the copy would only come back here).",
            )
        exists = s.scalars(
            select(ForwardRule).where(
                ForwardRule.domain_id == row.id,
                ForwardRule.local_part == local,
                ForwardRule.destination == target,
            )
        ).first()
        if exists is not None:
            raise UserError(
                "forward.exists", f"Mail to {local}@{row.name} already goes to {target}."
            )
        rule = ForwardRule(domain_id=row.id, local_part=local, destination=target, enabled=True)
        s.add(rule)
        s.flush()
        audit.record(s, "forward.added", f"{local}@{row.name}", destination=target)
        return _view(rule, row.name)


def list_rules(store: Store, domain: str | None = None) -> list[RuleView]:
    """Forwarding rules, of one domain or all."""
    with store.session() as s:
        query = select(ForwardRule, DedicatedDomain.name).join(
            DedicatedDomain, DedicatedDomain.id == ForwardRule.domain_id
        )
        if domain is not None:
            query = query.where(ForwardRule.domain_id == get_domain(s, domain).id)
        order = (DedicatedDomain.name, ForwardRule.local_part, ForwardRule.destination)
        return [_view(rule, name) for rule, name in s.execute(query.order_by(*order)).all()]


def _rules_of(
    s: Session, domain: str, local: str, destination: str | None
) -> tuple[str, str, list[ForwardRule]]:
    """The rules of ``local@domain`` (only the one to ``destination`` if given); never none."""
    row = get_domain(s, domain)
    local = _local_part(local, row.name)
    query = select(ForwardRule).where(
        ForwardRule.domain_id == row.id, ForwardRule.local_part == local
    )
    if destination is not None:
        query = query.where(ForwardRule.destination == destination.strip().lower())
    rules = list(s.scalars(query.order_by(ForwardRule.destination)).all())
    if not rules:
        raise UserError(
            "forward.not_found",
            f"No forwarding rule for {local}@{row.name}"
            + (f" to {quote_input(destination)}." if destination else "."),
            "See them with 'postdesk forward list'.",
        )
    return row.name, local, rules


def set_enabled(
    store: Store, domain: str, local: str, destination: str | None, enabled: bool
) -> list[RuleView]:
    """Pause (``enabled=False``) or resume the rules of ``local@domain``; audited.

    A paused rule stays listed and keeps its address out of the catch-all: mail to it is only
    kept in Conversations until the rule is resumed.
    """
    with store.session() as s:
        name, local, rules = _rules_of(s, domain, local, destination)
        changed = [rule for rule in rules if rule.enabled != enabled]
        for rule in changed:
            rule.enabled = enabled
        if changed:
            action = "forward.resumed" if enabled else "forward.paused"
            audit.record(s, action, f"{local}@{name}", count=len(changed))
        return [_view(rule, name) for rule in rules]


def remove_rule(store: Store, domain: str, local: str, destination: str | None = None) -> int:
    """Remove the rules of ``local@domain`` (only the one to ``destination`` if given)."""
    with store.session() as s:
        name, local, rules = _rules_of(s, domain, local, destination)
        for rule in rules:
            s.delete(rule)
        audit.record(s, "forward.removed", f"{local}@{name}", count=len(rules))
        return len(rules)


# --- forwarding a received message -------------------------------------------------------------


@dataclass
class _Plan:
    """What forwarding one received message takes, read in one short session."""

    inbound_id: int
    domain_id: int
    domain: str
    raw: bytes
    mail_from: str
    message_id: str
    subject: str
    auth_results: str
    verdicts: dict[str, str]
    destinations: list[str]
    bounces: list[str]  # SRS recipients of ours: bounces of earlier forwarded copies
    key: dkimsign.KeyRef | None
    stop: str = ""  # why nothing is forwarded (a loop), "" otherwise
    pending: str = ""  # the message's own "still to do" mark, cleared once done


def _recipients_on(domain: str, rcpt_tos: list[str]) -> list[str]:
    found = []
    for rcpt in rcpt_tos:
        address = rcpt.strip().strip("<>").lower()
        if address.rpartition("@")[2] == domain:
            found.append(address)
    return found


def _destinations(session: Session, domain_id: int, locals_: list[str]) -> list[str]:
    rules = session.scalars(select(ForwardRule).where(ForwardRule.domain_id == domain_id)).all()
    chosen: dict[str, None] = {}
    for local in locals_:
        # An address with rules of its own (even paused ones) is not caught by the catch-all:
        # pausing info@'s forwarding keeps info@'s mail here, it does not send it elsewhere.
        own = [r for r in rules if r.local_part == local]
        for rule in own or [r for r in rules if r.local_part == CATCH_ALL]:
            if rule.enabled:
                chosen[rule.destination] = None
    return list(chosen)


def loop_reason(raw: bytes, domain: str) -> str:
    """Why forwarding this message again would make a loop ("" when it would not)."""
    block = headers.read(raw)
    for seal in block.all("ARC-Seal"):
        found = _ARC_DOMAIN.search(seal)
        if found and found.group(1).strip().lower() == domain:
            return f"it already carries an ARC seal of {domain} (it was forwarded from here)"
    received = len(block.all("Received"))
    if received > MAX_RECEIVED:
        return f"it has passed {received} mail servers (a loop, most likely)"
    return ""


_RULES = ForwardRule.__table__
_FORWARDING_DOMAINS = (
    select(_RULES.c.domain_id)
    .where(_RULES.c.domain_id.in_(bindparam("ids", expanding=True)), _RULES.c.enabled.is_(True))
    .distinct()
)


def forwarding_domains(session: Session | Connection, domain_ids: set[int]) -> set[int]:
    """Which of ``domain_ids`` have a forwarding rule in effect (one query for a whole group
    of received messages)."""
    if not domain_ids:
        return set()
    # A plain statement on the session's connection: no ORM work inside the group commit.
    connection = session.connection() if isinstance(session, Session) else session
    rows = connection.execute(_FORWARDING_DOMAINS, {"ids": list(domain_ids)})
    return {int(domain_id) for (domain_id,) in rows}


def may_owe(rcpt_tos: list[str], domain_forwards: bool) -> bool:
    """Whether a message just received may owe copies: its domain forwards some address, or
    it is addressed to an SRS address (a bounce of a forwarded copy). ``forward_message``
    decides; most received mail owes nothing and is never looked at again."""
    return domain_forwards or any(srs.is_srs(r.strip().strip("<>")) for r in rcpt_tos)


def owed_messages(store: Store) -> list[int]:
    """Received messages whose forwarded copies were not queued yet, oldest first."""
    with store.session() as s:
        rows = s.scalars(
            select(InboundMessage.id)
            .where(InboundMessage.pending == OWED, InboundMessage.direction == "in")
            .order_by(InboundMessage.id)
        )
        return list(rows)


def settle(store: Store, inbound_id: int) -> None:
    """Clear the mark of a message that turned out to owe no copies (a DMARC report, a code)."""
    with queue.writing(store), store.session() as s:
        message = s.get(InboundMessage, inbound_id)
        if message is not None:
            message.pending = ""


def _plan(store: Store, inbound_id: int) -> _Plan | None:
    with store.session() as s:
        message = s.get(InboundMessage, inbound_id)
        if message is None or message.direction != "in":
            return None
        domain = s.get(DedicatedDomain, message.domain_id)
        if domain is None:
            return None
        ours = _recipients_on(domain.name, list(message.rcpt_tos or []))
        bounces = [r for r in ours if srs.is_srs(r)]
        # A delivery status notification (already read into the activity) is only passed back
        # when it bounces a forwarded copy; the rules do not forward bounces of relayed mail.
        locals_ = [r.rpartition("@")[0] for r in ours if r not in bounces and message.kind != "dsn"]
        destinations = _destinations(s, domain.id, locals_)
        destinations = [d for d in destinations if d not in ours]
        plan = _Plan(
            inbound_id,
            domain.id,
            domain.name,
            message.raw,
            message.mail_from,
            message.message_id_header,
            message.subject,
            message.auth_results,
            {"spf": message.spf, "dkim": message.dkim, "dmarc": message.dmarc},
            destinations,
            bounces,
            dkimsign.active_key(s, domain) if destinations else None,
            pending=message.pending,
        )
    if destinations:
        plan.stop = loop_reason(plan.raw, plan.domain)
    return plan


def _verdict_line(plan: _Plan, authserv: str) -> str:
    """An Authentication-Results value from the verdicts stored with the message."""
    sender_domain = plan.mail_from.rpartition("@")[2] or plan.domain
    v = plan.verdicts
    return (
        f"{authserv}; spf={v['spf']} smtp.mailfrom={sender_domain}; "
        f"dkim={v['dkim']}; dmarc={v['dmarc']}"
    )


def _authserv(plan: _Plan) -> str:
    value = plan.auth_results.strip()
    if value.lower().startswith("authentication-results:"):
        value = value.split(":", 1)[1]
    return value.split(";", 1)[0].strip() or plan.domain


def _stamped(raw: bytes, authserv: str) -> bool:
    """Whether the message already carries this receiver's Authentication-Results."""
    return any(
        value.split(";", 1)[0].strip().lower() == authserv.lower()
        for value in headers.read(raw).all("Authentication-Results")
    )


def _arc_set(message: bytes, key: dkimsign.SigningKey, authserv: str) -> list[bytes]:
    return list(
        dkim.arc_sign(
            message,
            key.selector.encode("ascii"),
            key.domain.encode("ascii"),
            key.private_pem.encode("ascii"),
            authserv.encode("ascii", "replace"),
        )
    )


def sealed_copy(plan: _Plan, key: dkimsign.SigningKey, chain: str | None) -> bytes:
    """The message with the receiver's verdicts and an ARC set in front (CPU-bound).

    The ARC-Authentication-Results repeat what Postdesk saw as the receiver: its own
    Authentication-Results when the inbound server stamped the message with them, else a line
    made from the stored verdicts; with the result of the chain the message arrived with.
    """
    raw = _LONE_LF.sub(b"\r\n", plan.raw)
    authserv = _authserv(plan)
    if _stamped(raw, authserv):
        extra = f"{authserv}; arc={chain}" if chain else ""
    else:
        extra = _verdict_line(plan, authserv) + (f"; arc={chain}" if chain else "")
    message = (f"Authentication-Results: {extra}\r\n".encode() if extra else b"") + raw
    arc = _arc_set(message, key, authserv)
    if not arc:
        # The stamped results could not be read: seal what the stored verdicts say instead.
        line = _verdict_line(plan, authserv) + (f"; arc={chain}" if chain else "")
        message = f"Authentication-Results: {line}\r\n".encode() + raw
        arc = _arc_set(message, key, authserv)
    return b"".join(arc) + message


async def _chain_result(raw: bytes) -> str | None:
    """The ARC chain the message arrived with, validated now (None when it has none)."""
    if headers.read(raw).first("ARC-Seal") is None:
        return None
    from postdesk.core.analyze.parse import parse_message
    from postdesk.core.analyze.verify import verify_now
    from postdesk.core.dnscheck.resolver import make_client

    _, arc, _ = await verify_now(parse_message(raw), make_client())
    return arc.result if arc is not None and arc.result in ("pass", "fail") else "fail"


async def forward_message(store: Store, inbound_id: int) -> int:
    """Queue the copies a received message owes (forwarding rules, bounces of forwarded copies);
    returns how many were queued. Safe to call again: a copy already queued is not queued twice.
    """
    plan = await asyncio.to_thread(_plan, store, inbound_id)
    if plan is None:
        return 0
    chain = await _chain_result(plan.raw) if plan.destinations and not plan.stop else None
    return await asyncio.to_thread(_forward, store, plan, chain)


def _forward(store: Store, plan: _Plan, chain: str | None) -> int:
    copies: list[tuple[str, str, bytes]] = []  # (mail_from, rcpt, raw)
    notes: list[str] = []
    key_bytes = srs.load_key(store) if (plan.destinations or plan.bounces) else b""
    for bounce in plan.bounces:
        back = srs.reverse(bounce, key_bytes)
        if back.address is None:
            log.info("dropped a bounce to %s: %s", bounce, back.problem)
            notes.append(f"bounce to {bounce} dropped: {back.problem}")
        else:
            copies.append(("", back.address, plan.raw))
    if plan.stop:
        log.info("not forwarding received message %d: %s", plan.inbound_id, plan.stop)
        notes.append(f"not forwarded: {plan.stop}")
    elif plan.destinations:
        try:
            key = dkimsign.domain_key(plan.key, plan.domain)
        except dkimsign.KeyUnavailable as exc:
            # Held, never sent without the seal: the message keeps "forward" pending.
            log.warning("forwarding of message %d waits: %s", plan.inbound_id, exc.reason)
            return 0
        sealed = sealed_copy(plan, key, chain)
        sender = srs.forward_address(plan.mail_from, plan.domain, key_bytes)
        copies.extend((sender, destination, sealed) for destination in plan.destinations)
    if not copies and not notes and not plan.pending:
        return 0  # nothing to forward and nothing to note: no write for most received mail
    return _queue(store, plan, copies, notes)


def _already_queued(session: Session, plan: _Plan) -> set[str]:
    if not plan.message_id:
        return set()
    rows = session.scalars(
        select(QueuedMessage.rcpt_tos).where(
            QueuedMessage.domain_id == plan.domain_id,
            QueuedMessage.source == "forward",
            QueuedMessage.message_id_header == plan.message_id[:300],
        )
    ).all()
    return {r.lower() for rcpts in rows for r in rcpts}


def _queue(
    store: Store, plan: _Plan, copies: list[tuple[str, str, bytes]], notes: list[str]
) -> int:
    queued: list[outgoing.Queued] = []
    with queue.writing(store), store.session() as s:
        domain = s.get(DedicatedDomain, plan.domain_id)
        message = s.get(InboundMessage, plan.inbound_id)
        if domain is None or message is None:
            return 0
        done = _already_queued(s, plan)
        for mail_from, rcpt, raw in copies:
            if rcpt in done:
                continue
            try:
                queued.append(
                    outgoing.queue_message(
                        s,
                        domain,
                        mail_from=mail_from,
                        rcpt_tos=[rcpt],
                        raw=raw,
                        source="forward",
                        subject=plan.subject,
                        message_id=plan.message_id,
                    )
                )
            except UserError as exc:
                log.warning("not forwarding message %d to %s: %s", plan.inbound_id, rcpt, exc)
                notes.append(f"not forwarded to {rcpt}: {exc.message}")
                if exc.code == "outgoing.daily_limit":
                    break  # nor to anyone else today
        for note in notes:
            audit.record(s, "forward.stopped", f"inbound:{plan.inbound_id}", reason=note)
        message.pending = ""
    outgoing.after_commit(store, queued)
    return len(queued)
