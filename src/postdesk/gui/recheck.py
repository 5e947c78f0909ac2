"""The background re-check: while Postdesk runs, verify the domains whose scheduled check is due.

Core decides when a domain is due (pending domains back off for up to 72 hours, verified ones are
checked daily); this module only asks every minute and runs a few checks at a time. A verified
domain whose records broke is reported in the window's banner and, where the desktop has a system
tray, as a notification: mail from it may already be failing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, Signal

from postdesk.core import domains
from postdesk.core.errors import UserError
from postdesk.gui.poller import Poller
from postdesk.gui.tabs import Tab

if TYPE_CHECKING:
    from postdesk.core.domains import VerifyOutcome
    from postdesk.core.store import Store

POLL_INTERVAL_MS = 60_000
# A few at a time: each check asks a dozen DNS questions, and the window must stay quick.
CHECKS_AT_ONCE = 3


@dataclass(frozen=True)
class DomainAlert:
    """What the desktop notification says (the shape the tray notifier reads)."""

    severity: str
    message: str
    hint: str


def broke_alert(name: str) -> DomainAlert:
    """The words for a verified domain whose DNS check now fails."""
    shown = domains.shown_name(name)
    return DomainAlert(
        "warning",
        f"{shown} stopped passing its DNS check.",
        "One of its DNS records changed or disappeared since it was verified, so mail from it "
        f"may fail receivers' checks. Open {Tab.DOMAINS.title} to see what to fix.",
    )


class Recheck(Poller):
    """Every interval, verify the due domains; ``checked`` and ``broke`` report each result."""

    checked = Signal(str, object)  # domain name, VerifyOutcome
    broke = Signal(str)  # domain name

    def __init__(
        self,
        store_source: Callable[[], Store | None],
        busy: Callable[[str], bool] = lambda _name: False,
        parent: QObject | None = None,
        *,
        interval_ms: int = POLL_INTERVAL_MS,
    ) -> None:
        super().__init__(store_source, interval_ms, parent)
        #: A domain the user is verifying right now is left alone (the window sets this).
        self.busy = busy

    async def round(self) -> list[str]:
        return await self.run_due()

    async def run_due(self) -> list[str]:
        """Verify every domain that is due, a few at a time; returns the names checked."""
        from postdesk.core.dnscheck.domain import bounded
        from postdesk.gui.asyncutil import run_blocking

        store = self._store_source()
        if store is None:
            return []
        # A shared PostgreSQL workspace may be across the network: read it off the GUI thread.
        due = await run_blocking(lambda: domains.due_for_check(store))
        names = [name for name in due if not self.busy(name)]
        results = await bounded(
            [lambda n=name: self._check(store, n) for name in names], CHECKS_AT_ONCE
        )
        return [name for name, done in zip(names, results, strict=True) if done]

    async def _check(self, store: Store, name: str) -> bool:
        try:
            outcome: VerifyOutcome = await domains.verify_domain(store, name)
        except UserError:
            return False  # removed while it waited its turn
        self.checked.emit(name, outcome)
        if outcome.regressed:
            self.broke.emit(name)
        return True
