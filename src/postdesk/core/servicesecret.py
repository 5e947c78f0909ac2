"""A service's password, read through the secrets gateway without loading the store."""

from __future__ import annotations

from postdesk.core import secrets
from postdesk.core.errors import UserError
from postdesk.core.serviceview import ServiceView


def service_password(service: ServiceView) -> str | None:
    """The service's password from the keyring (blocking: call it off the GUI thread).

    A service with a username whose password is gone from the keyring is an error, never a
    reason to connect without logging in.
    """
    password = secrets.read_secret(service.secret_ref) if service.secret_ref else None
    if password is None and service.username:
        raise UserError(
            "service.password_missing",
            f"The password of the service “{service.name}” is missing from the keyring.",
            "Enter it again: SMTP Service → Edit, or "
            f'`postdesk service edit "{service.name}" --password-stdin`.',
        )
    return password
