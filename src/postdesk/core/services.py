"""SMTP services: the upstream providers that deliver mail. Passwords live in the keyring."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session

from postdesk.core import audit, secrets
from postdesk.core.errors import UserError
from postdesk.core.presets import PRESETS
from postdesk.core.presets import SECURITY_LABELS as SECURITY_LABELS  # callers read it here
from postdesk.core.servicesecret import service_password as service_password  # here too
from postdesk.core.store import Store
from postdesk.core.store.models import DedicatedDomain, SmtpService
from postdesk.core.validation import (
    check_field,
    check_hostname,
    check_length,
    check_port,
    check_spf_include,
    quote_input,
)
from postdesk.core.views import ServiceView

SECURITY_CHOICES = ("starttls", "tls", "none")
MAX_NAME_LENGTH = 64
MAX_USERNAME_LENGTH = 256


@dataclass
class ServiceForm:
    """What the user typed in Add Service / Edit, or gave on the command line."""

    name: str
    host: str
    port: int | str
    security: str
    username: str
    password: str | None = field(default=None, repr=False)
    preset: str = "custom"
    spf_include: str | None = None
    spf_extra: list[str] = field(default_factory=list)
    make_default: bool = False


@dataclass
class FormCheck:
    """Per-field problems (blocking) and warnings (shown, not blocking) for inline messages."""

    errors: dict[str, str] = field(default_factory=dict)
    warnings: dict[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.errors

    def raise_first(self) -> None:
        """Raise the first problem as a UserError (for the CLI)."""
        for name, message in self.errors.items():
            raise UserError(f"service.{name}", message, "")


def _field(check: FormCheck, name: str, fn, *args):  # type: ignore[no-untyped-def]
    try:
        return fn(*args)
    except UserError as exc:
        check.errors.setdefault(name, f"{exc.message} {exc.hint}".strip())
        return None


def validate_form(form: ServiceForm, *, password_required: bool = True) -> FormCheck:
    """Check every field of a service form; never raises for bad input."""
    check = FormCheck()
    for name in ("name", "host", "username"):
        _field(check, name, check_field, name.capitalize(), str(getattr(form, name)))
    if not form.name.strip():
        check.errors["name"] = "Give the service a name you will recognise, e.g. 'SendGrid'."
    _field(check, "name", check_length, "The service name", form.name.strip(), MAX_NAME_LENGTH)
    _field(check, "username", check_length, "The username", form.username, MAX_USERNAME_LENGTH)
    if form.spf_include:
        _field(check, "spf_include", check_spf_include, form.spf_include)
    if form.preset not in PRESETS:
        check.errors["preset"] = f"Unknown provider. Choose one of: {', '.join(PRESETS)}."
    _field(check, "host", check_hostname, form.host)
    port = _field(check, "port", check_port, form.port)
    if form.security not in SECURITY_CHOICES:
        check.errors["security"] = "Choose STARTTLS, TLS (implicit) or None."
    elif port is not None:
        _port_advice(check, port, form.security)
    if not form.username.strip():
        check.errors["username"] = "Type the username your provider gave you."
    if password_required and not form.password:
        check.errors["password"] = "Type the password or API key for this service."
    elif form.password:
        _field(check, "password", check_field, "The password", form.password)
    return check


def _port_advice(check: FormCheck, port: int, security: str) -> None:
    if port == 465 and security != "tls":
        check.errors["security"] = "Port 465 uses implicit TLS: choose 'TLS (implicit)'."
    elif port == 587 and security == "tls":
        check.errors["security"] = "Port 587 uses STARTTLS: choose 'STARTTLS'."
    elif security == "none":
        check.warnings["security"] = (
            "Without TLS the password travels in plain text. Use STARTTLS or TLS if the server "
            "offers it."
        )
    if port == 25:
        check.warnings["port"] = (
            "Port 25 is blocked by most internet providers and hosts. Use 587 (STARTTLS) or "
            "465 (TLS) if your provider offers them."
        )


def service_named(session: Session, name: str) -> SmtpService:
    """The service called ``name`` in the caller's session, or a UserError naming the known ones."""
    service = session.scalars(select(SmtpService).where(SmtpService.name == name)).first()
    if service is None:
        known = ", ".join(session.scalars(select(SmtpService.name).order_by(SmtpService.name)))
        raise UserError(
            "service.not_found",
            f"There is no SMTP service called {quote_input(name)}.",
            f"Known services: {known}." if known else "Add one first with Add Service.",
        )
    return service


def list_services(store: Store) -> list[ServiceView]:
    """All services, default first, then by name."""
    with store.session() as s:
        query = select(SmtpService).order_by(SmtpService.is_default.desc(), SmtpService.name)
        return [ServiceView.from_row(row) for row in s.scalars(query)]


def get_service(store: Store, name: str) -> ServiceView:
    """The service with this name, or a UserError naming the known ones."""
    with store.session() as s:
        return ServiceView.from_row(service_named(s, name))


def default_service(session: Session) -> SmtpService | None:
    """The service new domains send through unless told otherwise."""
    return session.scalars(select(SmtpService).where(SmtpService.is_default)).first()


def add_service(store: Store, form: ServiceForm) -> ServiceView:
    """Save a new service; its password goes to the keyring, never the database."""
    validate_form(form).raise_first()
    secrets.require_storage()  # an unusable keyring stops here, before any row
    name = form.name.strip()
    ref = secrets.new_secret_ref("service")
    with store.session() as s:
        if s.scalars(select(SmtpService.id).where(SmtpService.name == name)).first():
            raise UserError(
                "service.exists",
                f"A service called {quote_input(name)} already exists.",
                "Pick another name.",
            )
    assert form.password is not None
    secrets.store_secret(ref, form.password)
    try:
        with store.session() as s:
            first = s.scalars(select(SmtpService.id)).first() is None
            service = SmtpService(
                name=name,
                preset=form.preset,
                host=check_hostname(form.host),
                port=check_port(form.port),
                security=form.security,
                username=form.username.strip(),
                secret_ref=ref,
                spf_include=_spf_include(form),
                spf_extra=list(form.spf_extra),
            )
            s.add(service)
            if form.make_default or first:
                _make_default(s, service)
            audit.record(s, "service.added", name, host=service.host, port=service.port)
            s.flush()
            view = ServiceView.from_row(service)
    except BaseException:
        secrets.delete_secret(ref)  # never leave a secret without its row
        raise
    return view


def _spf_include(form: ServiceForm) -> str | None:
    if form.spf_include and form.spf_include.strip():
        return check_spf_include(form.spf_include)
    return PRESETS[form.preset].spf_include if form.preset in PRESETS else None


def edit_service(store: Store, name: str, form: ServiceForm) -> ServiceView:
    """Change a service. A new password rewrites only its keyring entry; None keeps it."""
    validate_form(form, password_required=False).raise_first()
    with store.session() as s:
        service = service_named(s, name)
        new_name = form.name.strip()
        if (
            new_name != name
            and s.scalars(select(SmtpService).where(SmtpService.name == new_name)).first()
        ):
            raise UserError(
                "service.exists",
                f"A service called {quote_input(new_name)} already exists.",
                "Pick another name.",
            )
        service.name, service.preset = new_name, form.preset
        service.host, service.port = check_hostname(form.host), check_port(form.port)
        service.security, service.username = form.security, form.username.strip()
        service.spf_include, service.spf_extra = _spf_include(form), list(form.spf_extra)
        if form.make_default:
            _make_default(s, service)
        if form.password:
            if service.secret_ref is None:
                service.secret_ref = secrets.new_secret_ref("service")
            secrets.store_secret(service.secret_ref, form.password)
        audit.record(s, "service.edited", new_name, password_changed=bool(form.password))
        s.flush()
        return ServiceView.from_row(service)


def set_password(store: Store, name: str, password: str) -> None:
    """Replace only the password (keyring entry) of a service."""
    check_field("The password", password)
    with store.session() as s:
        service = service_named(s, name)
        if service.secret_ref is None:
            service.secret_ref = secrets.new_secret_ref("service")
        secrets.store_secret(service.secret_ref, password)
        audit.record(s, "service.password_changed", name)


def set_default(store: Store, name: str) -> None:
    """Make this the service new domains send through."""
    with store.session() as s:
        _make_default(s, service_named(s, name))
        audit.record(s, "service.default", name)


def _make_default(session: Session, service: SmtpService) -> None:
    for other in session.scalars(select(SmtpService).where(SmtpService.is_default)):
        other.is_default = False
    service.is_default = True


def remove_service(store: Store, name: str) -> None:
    """Delete a service and its keyring entry; refused while a domain sends through it."""
    with store.session() as s:
        service = service_named(s, name)
        query = select(DedicatedDomain.name).where(DedicatedDomain.service_id == service.id)
        users = sorted(s.scalars(query))
        if users:
            raise UserError(
                "service.in_use",
                f"{quote_input(name)} can't be removed: {', '.join(users)} send through it.",
                "Choose another service for those domains in Domain Settings first.",
            )
        was_default = service.is_default
        ref = service.secret_ref
        s.delete(service)
        audit.record(s, "service.removed", name)
        s.flush()
        if was_default:
            successor = s.scalars(select(SmtpService).order_by(SmtpService.name)).first()
            if successor is not None:
                successor.is_default = True
        if ref:
            secrets.delete_secret(ref)  # inside the transaction: a failure keeps the row too


def record_test(store: Store, name: str, ok: bool, category: str, detail: str) -> None:
    """Remember the result of the last connection test, for the badge in the table."""
    with store.session() as s:
        service = service_named(s, name)
        service.last_test_at = dt.datetime.now(dt.UTC)
        service.last_test_ok, service.last_test_category = ok, category
        service.last_test_detail = detail


def pin_certificate(store: Store, name: str, sha256: str | None) -> None:
    """Trust (or, with None, stop trusting) one certificate for this service, explicitly."""
    with store.session() as s:
        service = service_named(s, name)
        service.pinned_sha256 = sha256
        audit.record(s, "service.pin" if sha256 else "service.unpin", name, sha256=sha256)
