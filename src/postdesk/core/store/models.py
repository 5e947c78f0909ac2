"""The data model: everything Postdesk remembers, except secrets (those live in the keyring).

Columns named ``secret_ref`` hold only the *name* under which the secrets gateway keeps a value.

Every relationship is ``lazy="raise"``: a row never loads its relations behind the caller's back
(that is how a detached row once crashed a listing). Code that needs a relation loads it
explicitly with ``selectinload``/``joinedload`` inside its session; rows never leave core — the
CLI and the GUI get the frozen read models of ``postdesk.core.views``.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.types import TypeDecorator


def utcnow() -> dt.datetime:
    """The current time in UTC (aware)."""
    return dt.datetime.now(dt.UTC)


class UtcDateTime(TypeDecorator[dt.datetime]):
    """Stores aware UTC datetimes; SQLite hands back naive ones, so re-attach UTC on the way out."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):  # type: ignore[no-untyped-def]
        if value is not None:
            if value.tzinfo is None:
                raise ValueError("naive datetime given to the store; use UTC-aware times")
            value = value.astimezone(dt.UTC)
        return value

    def process_result_value(self, value, dialect):  # type: ignore[no-untyped-def]
        if value is not None and value.tzinfo is None:
            value = value.replace(tzinfo=dt.UTC)
        return value


NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


def table_of(model: type[Base]) -> Table:
    """A model's table, for plain Core statements (no ORM machinery on hot write paths)."""
    table = model.__table__
    assert isinstance(table, Table)
    return table


class Setting(Base):
    """A workspace setting (relay host names, tracking delay, …) as a key and a JSON value."""

    __tablename__ = "settings"
    key: Mapped[str] = mapped_column(String(100), primary_key=True)
    value: Mapped[object] = mapped_column(JSON)


class SmtpService(Base):
    """An upstream provider that delivers mail (SendGrid, Mailgun, …, or a custom server)."""

    __tablename__ = "smtp_services"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    preset: Mapped[str] = mapped_column(String(40), default="custom")
    host: Mapped[str] = mapped_column(String(253))
    port: Mapped[int] = mapped_column(Integer)
    security: Mapped[str] = mapped_column(String(10))  # starttls | tls | none
    username: Mapped[str] = mapped_column(String(320), default="")
    secret_ref: Mapped[str | None] = mapped_column(String(80))
    is_default: Mapped[bool] = mapped_column(Boolean, default=False)
    spf_include: Mapped[str | None] = mapped_column(String(253))
    spf_extra: Mapped[list[str]] = mapped_column(JSON, default=list)
    pinned_sha256: Mapped[str | None] = mapped_column(String(100))
    last_test_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    last_test_ok: Mapped[bool | None] = mapped_column(Boolean)
    last_test_category: Mapped[str | None] = mapped_column(String(40))
    last_test_detail: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow, onupdate=utcnow)

    domains: Mapped[list[DedicatedDomain]] = relationship(back_populates="service", lazy="raise")


class DedicatedDomain(Base):
    """A sending domain (stored as its A-label) with the records it must publish."""

    __tablename__ = "dedicated_domains"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(253), unique=True)
    service_id: Mapped[int | None] = mapped_column(
        ForeignKey("smtp_services.id", ondelete="RESTRICT")
    )
    status: Mapped[str] = mapped_column(String(20), default="pending")  # pending|verified|failing
    ownership_token: Mapped[str] = mapped_column(String(100))
    dkim_selector: Mapped[str | None] = mapped_column(String(63))
    reply_to: Mapped[str | None] = mapped_column(String(320))
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)
    verified_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    last_checked_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    next_check_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    check_attempts: Mapped[int] = mapped_column(Integer, default=0)
    # RFC 8058 one-click unsubscribe headers on every message of the domain.
    one_click_unsubscribe: Mapped[bool] = mapped_column(Boolean, default=False)
    # Mail to the domain's addresses is received into Conversations (MX points at the relay).
    reception: Mapped[bool] = mapped_column(Boolean, default=False)
    # Which From addresses SMTP users may use: "any" address on the domain, or only "listed"
    # (verified rows of sender_addresses).
    sender_policy: Mapped[str] = mapped_column(String(10), default="any")

    service: Mapped[SmtpService | None] = relationship(back_populates="domains", lazy="raise")
    records: Mapped[list[DomainRecord]] = relationship(
        back_populates="domain",
        cascade="all, delete-orphan",
        order_by="DomainRecord.position",
        lazy="raise",
    )
    dkim_keys: Mapped[list[DkimKey]] = relationship(
        back_populates="domain", cascade="all, delete-orphan", lazy="raise"
    )
    checks: Mapped[list[DnsCheck]] = relationship(
        back_populates="domain",
        cascade="all, delete-orphan",
        order_by="DnsCheck.checked_at",
        lazy="raise",
    )
    smtp_users: Mapped[list[SmtpUser]] = relationship(back_populates="domain", lazy="raise")


class DomainRecord(Base):
    """One expected DNS record of a domain, with the status of its last check."""

    __tablename__ = "domain_records"
    id: Mapped[int] = mapped_column(primary_key=True)
    domain_id: Mapped[int] = mapped_column(ForeignKey("dedicated_domains.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(Integer, default=0)
    kind: Mapped[str] = mapped_column(String(20))
    type: Mapped[str] = mapped_column(String(10))
    host: Mapped[str] = mapped_column(String(253))
    value: Mapped[str] = mapped_column(Text)
    required: Mapped[bool] = mapped_column(Boolean, default=True)
    status: Mapped[str] = mapped_column(String(20), default="pending")

    domain: Mapped[DedicatedDomain] = relationship(back_populates="records", lazy="raise")


class DkimKey(Base):
    """A DKIM signing key; the private half is in the keyring under ``secret_ref``."""

    __tablename__ = "dkim_keys"
    id: Mapped[int] = mapped_column(primary_key=True)
    domain_id: Mapped[int] = mapped_column(ForeignKey("dedicated_domains.id", ondelete="CASCADE"))
    selector: Mapped[str] = mapped_column(String(63))
    bits: Mapped[int] = mapped_column(Integer)
    public_key: Mapped[str] = mapped_column(Text)  # base64 SubjectPublicKeyInfo, as in p=
    secret_ref: Mapped[str] = mapped_column(String(80))
    state: Mapped[str] = mapped_column(String(20), default="active")  # pending|active|retired
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)

    domain: Mapped[DedicatedDomain] = relationship(back_populates="dkim_keys", lazy="raise")
    __table_args__ = (UniqueConstraint("domain_id", "selector"),)


class DnsCheck(Base):
    """One live verification of a domain: overall status and the full report (history)."""

    __tablename__ = "dns_checks"
    id: Mapped[int] = mapped_column(primary_key=True)
    domain_id: Mapped[int] = mapped_column(ForeignKey("dedicated_domains.id", ondelete="CASCADE"))
    checked_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow, index=True)
    status: Mapped[str] = mapped_column(String(20))
    report: Mapped[dict[str, object]] = mapped_column(JSON)

    domain: Mapped[DedicatedDomain] = relationship(back_populates="checks", lazy="raise")


class TrackingChange(Base):
    """A request to turn open or click tracking on or off, effective after a propagation delay.

    What is in effect for a domain at time T is the last non-cancelled change with
    ``effective_at <= T`` (tracking is on when there is none).
    """

    __tablename__ = "tracking_changes"
    id: Mapped[int] = mapped_column(primary_key=True)
    domain_id: Mapped[int] = mapped_column(ForeignKey("dedicated_domains.id", ondelete="CASCADE"))
    feature: Mapped[str] = mapped_column(String(10))  # open | click
    enabled: Mapped[bool] = mapped_column(Boolean)
    requested_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)
    effective_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    cancelled_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)

    __table_args__ = (Index("ix_tracking_lookup", "domain_id", "feature", "effective_at"),)


class SmtpUser(Base):
    """A login an app uses to send through the relay for one verified domain."""

    __tablename__ = "smtp_users"
    id: Mapped[int] = mapped_column(primary_key=True)
    domain_id: Mapped[int] = mapped_column(ForeignKey("dedicated_domains.id", ondelete="RESTRICT"))
    login: Mapped[str] = mapped_column(String(100))
    password_hash: Mapped[str] = mapped_column(String(255))  # scrypt, salted
    secret_ref: Mapped[str | None] = mapped_column(String(80))
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)
    last_used_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    deleted_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    deleted_reason: Mapped[str | None] = mapped_column(String(40))
    # Sends through this service instead of the domain's ("Sends through"); None: the domain's.
    service_id: Mapped[int | None] = mapped_column(
        ForeignKey("smtp_services.id", ondelete="SET NULL")
    )

    domain: Mapped[DedicatedDomain] = relationship(back_populates="smtp_users", lazy="raise")
    __table_args__ = (
        # A login is unique among the *live* users of a domain; deleted ones keep their history.
        Index(
            "uq_smtp_users_live_login",
            "domain_id",
            "login",
            unique=True,
            sqlite_where=text("deleted_at IS NULL"),
            postgresql_where=text("deleted_at IS NULL"),
        ),
    )


class DedicatedIp(Base):
    """A dedicated sending IP and the result of its last reverse-DNS and blocklist check."""

    __tablename__ = "dedicated_ips"
    id: Mapped[int] = mapped_column(primary_key=True)
    address: Mapped[str] = mapped_column(String(45), unique=True)
    label: Mapped[str] = mapped_column(String(100), default="")
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)
    last_checked_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    last_status: Mapped[str | None] = mapped_column(String(20))
    last_report: Mapped[dict[str, object] | None] = mapped_column(JSON)


class DailyUsage(Base):
    """Emails sent on one UTC day by one sender (an SMTP user, or a service for test sends).

    ``bucket`` names the sender (``user:<id>`` or ``service:<id>``) so one row per day and sender
    can be upserted atomically; the foreign keys make per-domain and per-user sums cheap.
    """

    __tablename__ = "daily_usage"
    id: Mapped[int] = mapped_column(primary_key=True)
    day: Mapped[dt.date] = mapped_column(Date)
    bucket: Mapped[str] = mapped_column(String(40))
    domain_id: Mapped[int | None] = mapped_column(
        ForeignKey("dedicated_domains.id", ondelete="SET NULL")
    )
    smtp_user_id: Mapped[int | None] = mapped_column(
        ForeignKey("smtp_users.id", ondelete="SET NULL")
    )
    service_id: Mapped[int | None] = mapped_column(
        ForeignKey("smtp_services.id", ondelete="SET NULL")
    )
    sent: Mapped[int] = mapped_column(Integer, default=0)

    __table_args__ = (UniqueConstraint("day", "bucket"), Index("ix_daily_usage_day", "day"))


class AuditEvent(Base):
    """Something that changed credentials or settings: who, what, when (never a secret)."""

    __tablename__ = "audit_log"
    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow, index=True)
    action: Mapped[str] = mapped_column(String(60))
    subject: Mapped[str] = mapped_column(String(400), default="")
    detail: Mapped[dict[str, object]] = mapped_column(JSON, default=dict)


class QueuedMessage(Base):
    """A message the relay accepted: kept until the upstream service took it or it bounced.

    It is committed before the client hears 250, so nothing accepted is lost in a crash. A worker
    claims it by setting ``claimed_by``/``claimed_until`` (a lease); a claim whose lease ran out
    (its process died) is taken over by another worker.
    """

    __tablename__ = "relay_queue"
    id: Mapped[int] = mapped_column(primary_key=True)
    domain_id: Mapped[int] = mapped_column(ForeignKey("dedicated_domains.id", ondelete="CASCADE"))
    smtp_user_id: Mapped[int | None] = mapped_column(
        ForeignKey("smtp_users.id", ondelete="SET NULL")
    )
    mail_from: Mapped[str] = mapped_column(String(320))
    rcpt_tos: Mapped[list[str]] = mapped_column(JSON)
    subject: Mapped[str] = mapped_column(String(300), default="")
    message_id_header: Mapped[str] = mapped_column(String(300), default="")
    raw: Mapped[bytes] = mapped_column(LargeBinary)
    size: Mapped[int] = mapped_column(Integer)
    accepted_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)
    status: Mapped[str] = mapped_column(
        String(10), default="pending"
    )  # pending|sending|sent|bounced
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)
    claimed_by: Mapped[str | None] = mapped_column(String(100))
    claimed_until: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    last_reply: Mapped[str | None] = mapped_column(Text)
    track_open: Mapped[bool] = mapped_column(Boolean, default=False)
    track_click: Mapped[bool] = mapped_column(Boolean, default=False)
    # Public id in tracking links, and the per-message key that signs their target URLs.
    tracking_token: Mapped[str] = mapped_column(String(40), unique=True)
    tracking_key: Mapped[str] = mapped_column(String(64))
    sent_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    # Where the message came from: relay (an SMTP user), test (a test send), reply (written in
    # Conversations), forward (a forwarded copy), confirm (a sender-address confirmation code).
    source: Mapped[str] = mapped_column(String(10), default="relay")
    # X-Postdesk-Critical: 1 (or a test send): a failure is announced at once.
    critical: Mapped[bool] = mapped_column(Boolean, default=False)
    # The provider's own id for the message (from its 250 reply or its webhook events).
    provider_message_id: Mapped[str | None] = mapped_column(String(200))
    bounce_class: Mapped[str | None] = mapped_column(String(30))

    __table_args__ = (
        Index("ix_relay_queue_domain_status", "domain_id", "status", "id"),
        Index("ix_relay_queue_status_accepted", "status", "accepted_at"),
        Index("ix_relay_queue_accepted", "accepted_at"),
        Index("ix_relay_queue_message_id_header", "message_id_header"),
        Index("ix_relay_queue_provider_message_id", "provider_message_id"),
    )


class TrackingEvent(Base):
    """One open (the pixel was loaded) or click (a tracked link was followed) of a message."""

    __tablename__ = "tracking_events"
    id: Mapped[int] = mapped_column(primary_key=True)
    message_id: Mapped[int] = mapped_column(ForeignKey("relay_queue.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(10))  # open | click
    url: Mapped[str | None] = mapped_column(Text)
    at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)
    remote: Mapped[str | None] = mapped_column(String(64))

    __table_args__ = (Index("ix_tracking_events_message", "message_id", "kind"),)


class MessageRecipient(Base):
    """One recipient of a message and what became of it (the activity's per-address status).

    ``status``: pending, sent (the provider took it), deferred, delivered, bounced, suppressed
    (refused before sending), complained, unsubscribed.
    """

    __tablename__ = "message_recipients"
    id: Mapped[int] = mapped_column(primary_key=True)
    message_id: Mapped[int] = mapped_column(ForeignKey("relay_queue.id", ondelete="CASCADE"))
    address: Mapped[str] = mapped_column(String(320))  # lowercased
    status: Mapped[str] = mapped_column(String(12), default="pending")
    bounce_class: Mapped[str | None] = mapped_column(String(30))
    reason: Mapped[str] = mapped_column(Text, default="")
    updated_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)

    __table_args__ = (
        Index("ix_message_recipients_address", "address", "message_id"),
        Index("ix_message_recipients_message", "message_id"),
    )


class MessageEvent(Base):
    """One step of a message's timeline: accepted, signed, tracking, handed_over, deferred,
    delivered, bounced, suppressed, opened, clicked, complained, unsubscribed.

    ``source`` says who told: relay, upstream, dsn, sendgrid, mailgun, postmark, ses, tracking.
    """

    __tablename__ = "message_events"
    id: Mapped[int] = mapped_column(primary_key=True)
    message_id: Mapped[int] = mapped_column(ForeignKey("relay_queue.id", ondelete="CASCADE"))
    recipient: Mapped[str | None] = mapped_column(String(320))
    kind: Mapped[str] = mapped_column(String(20))
    at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)
    source: Mapped[str] = mapped_column(String(20), default="relay")
    detail: Mapped[str] = mapped_column(Text, default="")
    bounce_class: Mapped[str | None] = mapped_column(String(30))

    __table_args__ = (
        Index("ix_message_events_message", "message_id", "at"),
        Index("ix_message_events_kind_at", "kind", "at"),
    )


class Suppression(Base):
    """An address that gets no more mail: why, when, and for which domain ("" = every domain)."""

    __tablename__ = "suppressions"
    id: Mapped[int] = mapped_column(primary_key=True)
    address: Mapped[str] = mapped_column(String(320))  # lowercased
    scope: Mapped[str] = mapped_column(String(253), default="")
    reason: Mapped[str] = mapped_column(String(20))  # hard_bounce|complaint|unsubscribe|manual
    detail: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)
    message_id: Mapped[int | None] = mapped_column(
        ForeignKey("relay_queue.id", ondelete="SET NULL")
    )

    __table_args__ = (UniqueConstraint("address", "scope"),)


class WebhookEvent(Base):
    """A provider event already taken in (its id), so a replayed one is refused."""

    __tablename__ = "webhook_events"
    id: Mapped[int] = mapped_column(primary_key=True)
    provider: Mapped[str] = mapped_column(String(20))
    event_id: Mapped[str] = mapped_column(String(200))
    received_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow, index=True)

    __table_args__ = (UniqueConstraint("provider", "event_id"),)


class InboundThread(Base):
    """A conversation: received messages (and replies sent from it) that belong together."""

    __tablename__ = "inbound_threads"
    id: Mapped[int] = mapped_column(primary_key=True)
    domain_id: Mapped[int] = mapped_column(ForeignKey("dedicated_domains.id", ondelete="CASCADE"))
    subject: Mapped[str] = mapped_column(String(300), default="")
    last_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)
    message_count: Mapped[int] = mapped_column(Integer, default=0)
    unread_count: Mapped[int] = mapped_column(Integer, default=0)

    __table_args__ = (
        Index("ix_inbound_threads_domain_last", "domain_id", "last_at"),
        # Threading's subject fallback looks a thread up by its (stripped) subject.
        Index("ix_inbound_threads_domain_subject", "domain_id", "subject"),
    )


class InboundMessage(Base):
    """A message received for a dedicated domain (or a reply sent from Conversations).

    Committed before the sender hears 250. ``spf``/``dkim``/``dmarc`` hold the verdicts Postdesk
    worked out as the receiver (pass, fail, softfail, neutral, none, temperror, permerror), and
    ``auth_results`` the ``Authentication-Results`` header it added.
    """

    __tablename__ = "inbound_messages"
    id: Mapped[int] = mapped_column(primary_key=True)
    domain_id: Mapped[int] = mapped_column(ForeignKey("dedicated_domains.id", ondelete="CASCADE"))
    thread_id: Mapped[int | None] = mapped_column(
        ForeignKey("inbound_threads.id", ondelete="SET NULL")
    )
    direction: Mapped[str] = mapped_column(String(3), default="in")  # in | out (a reply)
    kind: Mapped[str] = mapped_column(String(12), default="message")  # message|dmarc_report|dsn
    received_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)
    remote_ip: Mapped[str] = mapped_column(String(64), default="")
    helo: Mapped[str] = mapped_column(String(255), default="")
    mail_from: Mapped[str] = mapped_column(String(320), default="")
    rcpt_tos: Mapped[list[str]] = mapped_column(JSON, default=list)
    from_header: Mapped[str] = mapped_column(String(400), default="")
    to_header: Mapped[str] = mapped_column(Text, default="")
    subject: Mapped[str] = mapped_column(String(300), default="")
    message_id_header: Mapped[str] = mapped_column(String(300), default="")
    in_reply_to: Mapped[str] = mapped_column(String(300), default="")
    references: Mapped[str] = mapped_column(Text, default="")
    body_text: Mapped[str] = mapped_column(Text, default="")
    raw: Mapped[bytes] = mapped_column(LargeBinary)
    size: Mapped[int] = mapped_column(Integer, default=0)
    spf: Mapped[str] = mapped_column(String(12), default="none")
    dkim: Mapped[str] = mapped_column(String(12), default="none")
    dmarc: Mapped[str] = mapped_column(String(12), default="none")
    auth_results: Mapped[str] = mapped_column(Text, default="")
    unread: Mapped[bool] = mapped_column(Boolean, default=True)
    # What the relay still has to do with it: "" when nothing; "forward" while copies are owed.
    pending: Mapped[str] = mapped_column(String(20), default="")

    __table_args__ = (
        Index("ix_inbound_messages_domain_received", "domain_id", "received_at"),
        Index("ix_inbound_messages_thread", "thread_id", "received_at"),
        Index("ix_inbound_messages_message_id", "message_id_header"),
        # Threading: a message that arrives after a reply to it finds that reply's thread.
        Index("ix_inbound_messages_in_reply_to", "domain_id", "in_reply_to"),
        # Search walks a domain's messages newest first (ids grow with arrival).
        Index("ix_inbound_messages_domain_newest", "domain_id", "id"),
    )


class ForwardRule(Base):
    """Mail to ``local_part`` at the domain ("*" = any address) is forwarded to ``destination``."""

    __tablename__ = "forward_rules"
    id: Mapped[int] = mapped_column(primary_key=True)
    domain_id: Mapped[int] = mapped_column(ForeignKey("dedicated_domains.id", ondelete="CASCADE"))
    local_part: Mapped[str] = mapped_column(String(64))
    destination: Mapped[str] = mapped_column(String(320))
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)

    __table_args__ = (UniqueConstraint("domain_id", "local_part", "destination"),)


class SenderAddress(Base):
    """A From address an SMTP user may use once confirmed (a code sent to it)."""

    __tablename__ = "sender_addresses"
    id: Mapped[int] = mapped_column(primary_key=True)
    domain_id: Mapped[int] = mapped_column(ForeignKey("dedicated_domains.id", ondelete="CASCADE"))
    address: Mapped[str] = mapped_column(String(320), unique=True)  # lowercased
    status: Mapped[str] = mapped_column(String(10), default="pending")  # pending | verified
    code_hash: Mapped[str | None] = mapped_column(String(128))
    code_sent_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    verified_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)


class DmarcReport(Base):
    """A DMARC aggregate report: who reported, for which domain and period, the policy seen."""

    __tablename__ = "dmarc_reports"
    id: Mapped[int] = mapped_column(primary_key=True)
    domain_id: Mapped[int | None] = mapped_column(
        ForeignKey("dedicated_domains.id", ondelete="CASCADE")
    )
    policy_domain: Mapped[str] = mapped_column(String(253))
    org_name: Mapped[str] = mapped_column(String(200))
    report_id: Mapped[str] = mapped_column(String(200))
    email: Mapped[str] = mapped_column(String(320), default="")
    begin_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    end_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    policy: Mapped[dict[str, object]] = mapped_column(JSON, default=dict)
    received_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)

    __table_args__ = (
        UniqueConstraint("org_name", "report_id"),
        Index("ix_dmarc_reports_domain_begin", "policy_domain", "begin_at"),
    )


class DmarcRow(Base):
    """One row of a DMARC aggregate report: a source IP, its count and the verdicts."""

    __tablename__ = "dmarc_rows"
    id: Mapped[int] = mapped_column(primary_key=True)
    report_id: Mapped[int] = mapped_column(ForeignKey("dmarc_reports.id", ondelete="CASCADE"))
    source_ip: Mapped[str] = mapped_column(String(64))
    count: Mapped[int] = mapped_column(Integer)
    disposition: Mapped[str] = mapped_column(String(12), default="none")
    dkim: Mapped[str] = mapped_column(String(12), default="")  # policy-evaluated, aligned
    spf: Mapped[str] = mapped_column(String(12), default="")
    header_from: Mapped[str] = mapped_column(String(253), default="")
    envelope_from: Mapped[str] = mapped_column(String(253), default="")
    auth: Mapped[dict[str, object]] = mapped_column(JSON, default=dict)  # raw dkim/spf results
    ptr: Mapped[str | None] = mapped_column(String(253))

    __table_args__ = (Index("ix_dmarc_rows_report", "report_id"),)
