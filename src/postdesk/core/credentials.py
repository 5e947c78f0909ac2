"""SMTP users: the logins an app uses to send for one verified domain (at most five per domain).

A password is kept twice, for two readers: in the keyring (so test sends can use it) and as a
salted scrypt hash in the database (so a relay on another machine sharing the database can check
it). Neither copy is ever logged or shown again after creation.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets as _random
import string
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session, contains_eager

from postdesk.core import audit, routing, secrets, settings
from postdesk.core.domains import get_domain
from postdesk.core.errors import UserError
from postdesk.core.store import Store
from postdesk.core.store.models import DedicatedDomain, SmtpService, SmtpUser, utcnow
from postdesk.core.validation import check_field, quote_input
from postdesk.core.views import SmtpUserView

MAX_USERS_PER_DOMAIN = 5
MIN_PASSWORD_LENGTH = 12
GENERATED_LENGTH = 24
_LOGIN = re.compile(r"[a-z0-9](?:[a-z0-9._-]{0,62}[a-z0-9])?")
_SCRYPT_N, _SCRYPT_R, _SCRYPT_P = 2**14, 8, 1
_ALPHABET = string.ascii_letters + string.digits


@dataclass
class NewCredentials:
    """What the user sees once, right after creating or resetting a login."""

    login: str
    username: str
    password: str = field(repr=False)


@dataclass
class ConnectionDetails:
    """What an app needs to send through the relay."""

    host: str
    port: int
    security: str
    username: str


# --- passwords --------------------------------------------------------------------------------


def generate_password(length: int = GENERATED_LENGTH) -> str:
    """A strong random password (letters and digits only, so apps and shells accept it)."""
    while True:
        candidate = "".join(_random.choice(_ALPHABET) for _ in range(length))
        if any(c.isdigit() for c in candidate) and any(c.isupper() for c in candidate):
            return candidate


def check_password_strength(password: str, *, login: str = "") -> None:
    """Refuse a typed password that is short, guessable or contains the login."""
    check_field("The password", password)
    hint = (
        f"Use at least {MIN_PASSWORD_LENGTH} characters mixing letters and digits, "
        "or let Postdesk generate one."
    )
    if len(password) < MIN_PASSWORD_LENGTH:
        raise UserError(
            "password.short",
            f"The password has {len(password)} characters; that is too short.",
            hint,
        )
    kinds = sum(
        any(test(c) for c in password)
        for test in (str.islower, str.isupper, str.isdigit, lambda c: not c.isalnum())
    )
    if kinds < 2 or len(set(password)) < 6:
        raise UserError("password.weak", "The password is too easy to guess.", hint)
    if login and login.lower() in password.lower():
        raise UserError("password.contains_login", "The password contains the login name.", hint)


def hash_password(password: str) -> str:
    """A salted scrypt hash: ``scrypt$n$r$p$salt$hash`` (base64)."""
    salt = _random.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=_SCRYPT_N, r=_SCRYPT_R, p=_SCRYPT_P)
    b64 = base64.b64encode
    return f"scrypt${_SCRYPT_N}${_SCRYPT_R}${_SCRYPT_P}${b64(salt).decode()}${b64(digest).decode()}"


def verify_password(password: str, stored: str) -> bool:
    """True when ``password`` matches a hash made by :func:`hash_password`."""
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
    except ValueError:
        return False
    if scheme != "scrypt":
        return False
    expected = base64.b64decode(digest)
    actual = hashlib.scrypt(
        password.encode(),
        salt=base64.b64decode(salt),
        n=int(n),
        r=int(r),
        p=int(p),
        dklen=len(expected),
    )
    return hmac.compare_digest(actual, expected)


# --- users ------------------------------------------------------------------------------------


def check_login(login: str) -> str:
    """Validate a login name; returns it in lowercase."""
    check_field("The login name", login)
    name = login.strip().lower()
    if not _LOGIN.fullmatch(name):
        raise UserError(
            "smtp_user.bad_login",
            f"{quote_input(login.strip())} can't be used as a login name.",
            "Use 1 to 64 letters, digits, dots, dashes or underscores, e.g. 'shop' or 'crm-2'.",
        )
    return name


def _live_users(session: Session, domain: DedicatedDomain) -> list[SmtpUser]:
    query = (
        select(SmtpUser)
        .where(SmtpUser.domain_id == domain.id, SmtpUser.deleted_at.is_(None))
        .order_by(SmtpUser.created_at, SmtpUser.id)
    )
    return list(session.scalars(query))


def _require_verified(domain: DedicatedDomain) -> None:
    if domain.status != "verified":
        state = (
            "is still waiting for its DNS records"
            if domain.status == "pending"
            else ("failed its last DNS check")
        )
        raise UserError(
            "smtp_user.domain_not_verified",
            f"{domain.name} {state}, so it can't have SMTP users yet.",
            "Publish the records from Dedicated Domain And IP and press Verify Now; "
            "SMTP users can be created once the domain is verified.",
        )


def list_smtp_users(store: Store, domain_name: str) -> list[SmtpUserView]:
    """The live SMTP users of a domain, oldest first."""
    with store.session() as s:
        domain = get_domain(s, domain_name)
        names = {i: n for i, n in s.execute(select(SmtpService.id, SmtpService.name))}
        return [
            SmtpUserView.from_row(u, domain.name, names.get(u.service_id) if u.service_id else None)
            for u in _live_users(s, domain)
        ]


def can_create(store: Store, domain_name: str) -> str | None:
    """None when a new SMTP user may be created, else the reason (for a disabled button)."""
    try:
        with store.session() as s:
            domain = get_domain(s, domain_name)
            _require_verified(domain)
            _check_room(_live_users(s, domain), domain.name)
    except UserError as exc:
        return exc.message
    return None


def _check_room(users: list[SmtpUser], domain: str) -> None:
    if len(users) >= MAX_USERS_PER_DOMAIN:
        raise UserError(
            "smtp_user.limit",
            f"{domain} already has {MAX_USERS_PER_DOMAIN} SMTP users, the most a domain can have.",
            "Delete one you no longer use, then create the new one.",
        )


def username(login: str, domain: str) -> str:
    """The username an app types: ``login@domain``."""
    return f"{login}@{domain}"


def create_smtp_user(
    store: Store,
    domain_name: str,
    login: str,
    password: str | None = None,
    *,
    service: str | None = None,
) -> NewCredentials:
    """Create a login for a verified domain; the password is returned once, here.

    ``service`` names a service the login sends through instead of the domain's.
    """
    login = check_login(login)
    if password is None:
        password = generate_password()
    else:
        check_password_strength(password, login=login)
    secrets.require_storage()  # an unusable keyring stops here, before any row
    with store.session() as s:  # check first, so a refused login never reaches the keyring
        domain = get_domain(s, domain_name)
        _require_verified(domain)
        users = _live_users(s, domain)
        _check_room(users, domain.name)
        routing.resolve_service(s, service)  # an unknown name stops here too
        if any(u.login == login for u in users):
            raise UserError(
                "smtp_user.exists",
                f"{username(login, domain.name)} already exists.",
                "Pick another login name, or reset that user's password.",
            )
    ref = secrets.new_secret_ref("smtp-user")
    secrets.store_secret(ref, password)
    try:
        with store.session() as s:
            domain = get_domain(s, domain_name)
            _check_room(_live_users(s, domain), domain.name)  # re-checked inside the transaction
            routed = routing.resolve_service(s, service)
            if routed is not None and routed.id == domain.service_id:
                routed = None  # the domain's own service: nothing to override
            s.add(
                SmtpUser(
                    domain_id=domain.id,
                    login=login,
                    password_hash=hash_password(password),
                    secret_ref=ref,
                    service_id=routed.id if routed is not None else None,
                )
            )
            if routed is not None:
                routing.cover_in_spf(s, domain, routed)
            audit.record(s, "smtp_user.created", username(login, domain.name))
            full = username(login, domain.name)
    except BaseException:
        secrets.delete_secret(ref)  # never a secret without its row
        raise
    return NewCredentials(login, full, password)


def _get_user(session: Session, domain_name: str, login: str) -> tuple[DedicatedDomain, SmtpUser]:
    domain = get_domain(session, domain_name)
    name = login.strip().lower()
    for user in _live_users(session, domain):
        if user.login == name:
            return domain, user
    raise UserError(
        "smtp_user.not_found",
        f"{domain.name} has no SMTP user {quote_input(login)}.",
        "Check the login name with 'postdesk smtp-user list'.",
    )


def reset_password(
    store: Store, domain_name: str, login: str, password: str | None = None
) -> NewCredentials:
    """Give a login a new password (typed or generated); the old one stops working."""
    if password is None:
        password = generate_password()
    else:
        check_password_strength(password, login=login.strip().lower())
    new_ref = secrets.new_secret_ref("smtp-user")
    secrets.store_secret(new_ref, password)
    try:
        with store.session() as s:
            domain, user = _get_user(s, domain_name, login)
            old_ref, user.secret_ref = user.secret_ref, new_ref
            user.password_hash = hash_password(password)
            full = username(user.login, domain.name)
            audit.record(s, "smtp_user.password_reset", full)
    except BaseException:
        secrets.delete_secret(new_ref)
        raise
    if old_ref:
        secrets.delete_secret(old_ref)
    return NewCredentials(user.login, full, password)


def delete_smtp_user(store: Store, domain_name: str, login: str) -> None:
    """Delete a login: sending with it stops at once; its history and statistics stay."""
    with store.session() as s:
        domain, user = _get_user(s, domain_name, login)
        _retire(s, user, domain, "deleted")
        audit.record(s, "smtp_user.deleted", username(user.login, domain.name))


def _retire(session: Session, user: SmtpUser, domain: DedicatedDomain, reason: str) -> None:
    """Mark a user deleted and drop its keyring entry, in the caller's transaction."""
    ref = user.secret_ref
    user.deleted_at, user.deleted_reason = utcnow(), reason
    user.secret_ref, user.password_hash = None, "!"
    session.flush()
    if ref:
        secrets.delete_secret(ref)  # a keyring failure rolls the whole deletion back


def smtp_user_password(store: Store, domain_name: str, login: str) -> str | None:
    """The stored password of a login (for test sends; blocking keyring call)."""
    with store.session() as s:
        _, user = _get_user(s, domain_name, login)
        ref = user.secret_ref
    return secrets.read_secret(ref) if ref else None


def connection_details(store: Store, domain_name: str, login: str) -> ConnectionDetails:
    """Host, port, security and username an app needs for this login."""
    with store.session() as s:
        domain, user = _get_user(s, domain_name, login)
        return ConnectionDetails(
            host=str(settings.get(s, "relay_host")),
            port=int(settings.get(s, "relay_port")),
            security=str(settings.get(s, "relay_security")),
            username=username(user.login, domain.name),
        )


def authenticate(session: Session, full_username: str, password: str) -> SmtpUser | None:
    """The live SMTP user these credentials belong to (``domain`` loaded), or None (relay)."""
    login, _, domain_name = full_username.strip().lower().rpartition("@")
    if not login:
        verify_password(password, _NO_SUCH_USER_HASH)  # same cost as a known login
        return None
    query = (
        select(SmtpUser)
        .join(DedicatedDomain)
        .options(contains_eager(SmtpUser.domain))
        .where(
            DedicatedDomain.name == domain_name,
            SmtpUser.login == login,
            SmtpUser.deleted_at.is_(None),
        )
    )
    user = session.scalars(query).first()
    # An unknown login runs scrypt too, so the answer's timing does not tell which logins exist.
    if not verify_password(password, _NO_SUCH_USER_HASH if user is None else user.password_hash):
        return None
    return user


_NO_SUCH_USER_HASH = (
    "scrypt$16384$8$1$EedTcpMVjqF07HvZfkeCYg==$s/73hW5zlRBE9KZ7Bof2vFWWgHBNx+b45pvG+8BFzg1t2jHARROQmUxf"
    "08U7licyeAtT2DbzZuNBCL1bWDdh5w=="
)
