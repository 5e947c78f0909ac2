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

    __table_args__ = (
        Index("ix_relay_queue_domain_status", "domain_id", "status", "id"),
        Index("ix_relay_queue_status_accepted", "status", "accepted_at"),
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
