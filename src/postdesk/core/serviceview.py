"""The read model of an upstream SMTP service (see ``views``, which re-exports it)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # only for ``from_row``'s hint: the view itself must not load the ORM
    from postdesk.core.store.models import SmtpService


@dataclass(frozen=True)
class ServiceView:
    """An upstream SMTP service as the lists, forms and test sends show it (no password)."""

    id: int
    name: str
    preset: str
    host: str
    port: int
    security: str
    username: str
    is_default: bool
    spf_include: str | None
    spf_extra: tuple[str, ...]
    pinned_sha256: str | None
    last_test_at: dt.datetime | None
    last_test_ok: bool | None
    last_test_category: str | None
    last_test_detail: str | None
    # Only the *name* of the keyring entry (never the password), for ``service_password``.
    secret_ref: str | None = field(default=None, repr=False)

    @classmethod
    def from_row(cls, row: SmtpService) -> ServiceView:
        """Snapshot a service row (inside its session)."""
        return cls(
            id=row.id,
            name=row.name,
            preset=row.preset,
            host=row.host,
            port=row.port,
            security=row.security,
            username=row.username,
            is_default=bool(row.is_default),
            spf_include=row.spf_include,
            spf_extra=tuple(row.spf_extra or ()),
            pinned_sha256=row.pinned_sha256,
            last_test_at=row.last_test_at,
            last_test_ok=row.last_test_ok,
            last_test_category=row.last_test_category,
            last_test_detail=row.last_test_detail,
            secret_ref=row.secret_ref,
        )
