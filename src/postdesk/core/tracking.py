"""Open and click tracking per domain: on by default; a change takes effect after a delay.

What is in effect for a domain at time T is the newest non-cancelled change whose
``effective_at`` is at or before T; with no change, tracking is on. Asking for the value already
in effect while a change is still pending cancels that change.

Tracking being on is not enough to rewrite a message: its links and pixel must point at a name
recipients can reach. That is the domain's tracking address (the optional ``track.<domain>``
CNAME among its records); until it is published and verified, mail goes out untracked, because a
link to this computer (``127.0.0.1``, a LAN address) would be dead for every recipient.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
from dataclasses import dataclass
from typing import Literal, Protocol

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from postdesk.core import audit, settings
from postdesk.core.domains import get_domain
from postdesk.core.store import Store
from postdesk.core.store.models import (
    DomainRecord,
    TrackingChange,
    table_of,
    utcnow,
)

Feature = Literal["open", "click"]
FEATURES: tuple[Feature, ...] = ("open", "click")
LABELS = {"open": "Open tracking", "click": "Click tracking"}


@dataclass(frozen=True)
class Pending:
    enabled: bool
    effective_at: dt.datetime


@dataclass(frozen=True)
class FeatureState:
    """A tracking feature now, and the change waiting to take effect, if any."""

    feature: Feature
    enabled: bool
    pending: Pending | None

    def as_dict(self) -> dict[str, object]:
        pending = (
            None
            if self.pending is None
            else {
                "enabled": self.pending.enabled,
                "effective_at": self.pending.effective_at.astimezone(dt.UTC).isoformat(),
            }
        )
        return {"enabled": self.enabled, "pending": pending}

    def at(self, now: dt.datetime) -> FeatureState:
        """The same state as it will be at ``now``: a pending change due by then has applied."""
        if self.pending is not None and self.pending.effective_at <= now:
            return FeatureState(self.feature, self.pending.enabled, None)
        return self

    def describe(self, now: dt.datetime | None = None) -> str:
        """E.g. "Open tracking will turn off at 14:32 (in 12 min)" in local time."""
        label = LABELS[self.feature]
        if self.pending is None:
            return f"{label} is {'on' if self.enabled else 'off'}."
        now = now or utcnow()
        minutes = max(0, int((self.pending.effective_at - now).total_seconds() + 59) // 60)
        local = self.pending.effective_at.astimezone().strftime("%H:%M")
        verb = "on" if self.pending.enabled else "off"
        return f"{label} will turn {verb} at {local} (in {minutes} min)."


def _changes(session: Session, domain_id: int, feature: Feature) -> list[TrackingChange]:
    query = (
        select(TrackingChange)
        .where(
            TrackingChange.domain_id == domain_id,
            TrackingChange.feature == feature,
            TrackingChange.cancelled_at.is_(None),
        )
        .order_by(TrackingChange.effective_at, TrackingChange.id)
    )
    return list(session.scalars(query))


def _state(session: Session, domain_id: int, feature: Feature, at: dt.datetime) -> FeatureState:
    changes = _changes(session, domain_id, feature)
    enabled = True
    pending = None
    for change in changes:
        if change.effective_at <= at:
            enabled = change.enabled
        else:
            pending = change
    return FeatureState(
        feature,
        enabled,
        None if pending is None else Pending(pending.enabled, pending.effective_at),
    )


def in_effect(session: Session, domain_id: int, feature: Feature, at: dt.datetime) -> bool:
    """Whether a tracking feature applies to mail a domain sends at time ``at``."""
    return InEffect(session)(domain_id, feature, at)


_CHANGES = table_of(TrackingChange)
# The changes of one domain (both features), oldest first: a plain Core query, read for every
# group of messages the relay accepts.
_IN_EFFECT = (
    select(_CHANGES.c.feature, _CHANGES.c.effective_at, _CHANGES.c.enabled)
    .where(_CHANGES.c.domain_id == bindparam("domain"), _CHANGES.c.cancelled_at.is_(None))
    .order_by(_CHANGES.c.effective_at, _CHANGES.c.id)
)


class InEffect:
    """``in_effect`` for the many messages of one transaction (the relay's group commit): each
    domain's changes are read once, and each message still gets what applies at its own time."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self._read: dict[tuple[int, str], list[tuple[dt.datetime, bool]]] = {}

    def __call__(self, domain_id: int, feature: Feature, at: dt.datetime) -> bool:
        if (domain_id, FEATURES[0]) not in self._read:
            for name in FEATURES:
                self._read[(domain_id, name)] = []
            for row in self.session.connection().execute(_IN_EFFECT, {"domain": domain_id}):
                self._read.setdefault((domain_id, row.feature), []).append(
                    (row.effective_at, row.enabled)
                )
        changes = self._read[(domain_id, feature)]
        enabled = True
        for effective_at, value in changes:  # oldest first: the last one in effect wins
            if effective_at <= at:
                enabled = value
        return enabled


def tracking_state(
    store: Store, domain_name: str, at: dt.datetime | None = None
) -> dict[Feature, FeatureState]:
    """Both features of a domain: what is in effect at ``at`` (now) and what is pending."""
    at = at or utcnow()
    with store.session() as s:
        domain = get_domain(s, domain_name)
        return {f: _state(s, domain.id, f, at) for f in FEATURES}


def set_tracking(
    store: Store, domain_name: str, feature: Feature, enabled: bool, at: dt.datetime | None = None
) -> FeatureState:
    """Ask for a feature on or off; takes effect after the propagation delay (or cancels)."""
    at = at or utcnow()
    with store.session() as s:
        domain = get_domain(s, domain_name)
        state = _state(s, domain.id, feature, at)
        if state.pending is not None and state.pending.enabled != enabled:
            for change in _changes(s, domain.id, feature):
                if change.effective_at > at:
                    change.cancelled_at = at
            audit.record(s, "tracking.cancelled", domain.name, feature=feature)
        elif state.pending is None and state.enabled != enabled:
            delay = dt.timedelta(minutes=float(settings.get(s, "tracking_delay_minutes")))
            s.add(
                TrackingChange(
                    domain_id=domain.id,
                    feature=feature,
                    enabled=enabled,
                    requested_at=at,
                    effective_at=at + delay,
                )
            )
            audit.record(s, "tracking.changed", domain.name, feature=feature, enabled=enabled)
        s.flush()
        return _state(s, domain.id, feature, at)


# --- the tracking address ---------------------------------------------------------------------

_LOCAL_SUFFIXES = (".localhost", ".local", ".internal", ".lan", ".home.arpa")


@dataclass(frozen=True)
class TrackingAddress:
    """The public name a domain's tracking links and open pixel use (``track.<domain>``)."""

    host: str  # the CNAME's own name, A-label form
    target: str  # where it points (the tracking host)


@dataclass(frozen=True)
class TrackingAddressStatus:
    """Whether a domain's mail can be tracked, and if not, what the user should do."""

    address: TrackingAddress | None
    reason: str | None  # None when ``address`` is usable

    def as_dict(self) -> dict[str, object]:
        address = None if self.address is None else dict(self.address.__dict__)
        return {"address": address, "reason": self.reason}


def is_public_host(host: str) -> bool:
    """Whether a host name or address can be reached by recipients on the internet.

    Loopback, private (RFC 1918, unique local), link-local and unspecified addresses, and names
    such as ``localhost`` that only mean something on this computer or network, are not.
    """
    name = host.strip().strip("[]").rstrip(".").lower()
    try:
        address = ipaddress.ip_address(name.split("%")[0])
    except ValueError:
        # A name: DNS decides where it points, except for names that only mean something here.
        return "." in name and not name.endswith(_LOCAL_SUFFIXES)
    return not (
        address.is_loopback
        or address.is_private
        or address.is_link_local
        or address.is_unspecified
        or address.is_multicast
        or address.is_reserved
    )


class NamedDomain(Protocol):
    """A dedicated domain's id and name: its row, or what the relay read of it."""

    @property
    def id(self) -> int: ...

    @property
    def name(self) -> str: ...


_RECORDS = table_of(DomainRecord)
_TRACKING_RECORD = (
    select(_RECORDS.c.host, _RECORDS.c.value, _RECORDS.c.status)
    .where(_RECORDS.c.domain_id == bindparam("domain"), _RECORDS.c.kind == "tracking")
    .order_by(_RECORDS.c.position, _RECORDS.c.id)
    .limit(1)
)


def tracking_address_status(session: Session, domain: str | NamedDomain) -> TrackingAddressStatus:
    """The domain's usable tracking address, or the reason there is none and how to fix it.

    ``domain`` is a dedicated domain's name (Unicode or A-label) or its row.
    """
    row = get_domain(session, domain) if isinstance(domain, str) else domain
    session.flush()  # a record changed in this session counts
    record = session.connection().execute(_TRACKING_RECORD, {"domain": row.id}).first()
    host = f"track.{row.name}"
    if record is None:
        return TrackingAddressStatus(
            None,
            f"Links are not rewritten and no open pixel is added until the tracking address "
            f"{host} exists: choose a tracking host in Settings, publish the CNAME record it "
            "gives at your DNS host and press Verify Now.",
        )
    host, target = record.host.lower().rstrip("."), record.value.lower().rstrip(".")
    if not (is_public_host(host) and is_public_host(target)):
        return TrackingAddressStatus(
            None,
            f"The tracking CNAME {host} points at {target}, which recipients cannot reach "
            "(an address of this computer or a private network). Choose a public tracking "
            "host in Settings, publish the new record and verify it.",
        )
    if record.status != "ok":
        return TrackingAddressStatus(
            None,
            f"Links are not rewritten and no open pixel is added until the tracking CNAME is "
            f"verified: publish {host} CNAME {target} at your DNS host, then press Verify Now.",
        )
    return TrackingAddressStatus(TrackingAddress(host, target), None)


def tracking_address(session: Session, domain: str | NamedDomain) -> TrackingAddress | None:
    """The public address tracked links of the domain's mail use; None while there is none."""
    return tracking_address_status(session, domain).address
