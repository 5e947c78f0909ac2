"""Dedicated Domain And IP: sending domains, their DNS records, and dedicated IP addresses."""

from __future__ import annotations

import asyncio

from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import (
    QAbstractScrollArea,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QStackedWidget,
    QWidget,
)

from postdesk.core import domains, domainview, ips
from postdesk.core.domains import VerifyOutcome
from postdesk.core.domainview import DomainSummary
from postdesk.core.events import Change
from postdesk.core.services import list_services
from postdesk.core.views import IpView
from postdesk.gui.asyncutil import async_slot, busy, run_blocking, start_task
from postdesk.gui.confirm import confirm_destructive
from postdesk.gui.dialogs.add_domain import AddDomainDialog
from postdesk.gui.dialogs.add_ip import AddIpDialog
from postdesk.gui.dialogs.diagnose import DiagnoseDialog
from postdesk.gui.qtutils import SPACE_L, SPACE_S, hbox, label, muted, vbox
from postdesk.gui.tabs import Tab
from postdesk.gui.tabs.base import Page
from postdesk.gui.tabs.domains_detail import DomainActions, DomainDetail, DomainRow, scrolling
from postdesk.gui.widgets.emptystate import TEXT_MAX_WIDTH, TEXT_STRETCH, EmptyState
from postdesk.gui.widgets.ip_panel import IpList, IpPanel, soft_selection

SIDEBAR_WIDTH = 300
SIDEBAR_MIN_WIDTH = 240
DIAGNOSE_TIP = "Check any domain's SPF, DKIM, DMARC and MX; nothing is saved"
# Often enough that "checked 3 minutes ago" never lags by a whole minute for long.
CLOCK_INTERVAL_MS = 30_000
EMPTY_TEXT = "Add your domain to get the DNS records to publish."
EMPTY_STEPS = (
    "1.  Add Domain: type the domain you send email from.\n"
    "2.  Publish: copy the records Postdesk makes into your DNS host.\n"
    "3.  Verify Now: Postdesk checks them live and says exactly what to fix."
)


class DomainsPage(Page):
    key = Tab.DOMAINS
    watches = frozenset({Change.DOMAINS, Change.SERVICES, Change.SETTINGS})
    description = (
        "Add the domains you send from, publish the DNS records Postdesk gives you, and check "
        "your dedicated IP addresses."
    )

    def build_content(self) -> QWidget:
        self.summaries: dict[str, DomainSummary] = {}
        self.rows: dict[str, DomainRow] = {}
        self.current: tuple[str, str] | None = None  # ("domain", name) or ("ip", address)
        self._wanted: str | None = None
        self._verifying: dict[str, asyncio.Task[None]] = {}
        self.clock = QTimer(self)
        self.clock.setInterval(CLOCK_INTERVAL_MS)
        self.clock.timeout.connect(self._tick)

        self.actions = DomainActions(
            smtp_settings=lambda name: self.navigate.emit(Tab.SMTP_SETTINGS, name),
            domain_settings=lambda name: self.navigate.emit(Tab.DOMAIN_SETTINGS, name),
            verify=self.verify,
            cancel_verify=self.cancel_verify,
            remove=self.confirm_remove,
            activity=self.open_activity,
            conversations=lambda name: self.navigate.emit(Tab.CONVERSATIONS, name),
            forwarding=self.open_forwarding,
            sender_addresses=self.open_sender_addresses,
        )
        self.detail = DomainDetail(self.actions)
        self.ip_panel = IpPanel(self.banner)
        self.ip_panel.changed.connect(self._ip_changed)
        self.ip_panel.removed.connect(self._ip_removed)
        self.empty_state = EmptyState(
            "icons/empty-domain.png", "No sending domains yet", EMPTY_TEXT, button_text="Add Domain"
        )
        assert self.empty_state.button is not None
        self.empty_state.button.clicked.connect(self.open_add_domain)
        self._add_steps(self.empty_state)
        self.pick_note = muted(label("Pick a domain or an IP on the left."))
        self.pick_note.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.stack = QStackedWidget()
        for widget in (self.empty_state, scrolling(self.detail), scrolling(self.ip_panel)):
            self.stack.addWidget(widget)
        self.stack.addWidget(self.pick_note)

        content = QWidget()
        row = hbox(self._build_sidebar(), self.stack, spacing=SPACE_L)
        row.setStretch(1, 1)
        content.setLayout(row)
        return content

    def _add_steps(self, empty: EmptyState) -> None:
        """The three steps, as a block between the sentence and the Add Domain button."""
        self.steps_label = label(EMPTY_STEPS)
        self.steps_label.setMaximumWidth(TEXT_MAX_WIDTH)
        row = hbox()
        row.addStretch(1)
        row.addWidget(self.steps_label, TEXT_STRETCH)
        row.addStretch(1)
        layout = empty.layout()
        at = layout.indexOf(empty.button)
        layout.insertLayout(at, row)  # type: ignore[attr-defined]
        layout.insertSpacing(at + 1, SPACE_S)  # type: ignore[attr-defined]

    def _build_sidebar(self) -> QWidget:
        self.domain_list = QListWidget()
        self.domain_list.setAccessibleName("Sending domains")
        soft_selection(self.domain_list)
        self.domain_list.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.domain_list.setSizeAdjustPolicy(QAbstractScrollArea.SizeAdjustPolicy.AdjustToContents)
        self.domain_list.currentItemChanged.connect(self._domain_picked)
        self.no_domains_label = muted(label("No domains yet."))
        self.add_button = QPushButton("Add Domain")
        self.add_button.clicked.connect(self.open_add_domain)
        self.diagnose_button = QPushButton("Diagnose a domain…")
        self.diagnose_button.setToolTip(
            "Check any domain's SPF, DKIM, DMARC and MX; nothing is saved"
        )
        self.diagnose_button.clicked.connect(self.open_diagnose)
        self.analyze_button = QPushButton("Analyze a message…")
        self.analyze_button.setToolTip(
            "Read a received message's headers: verdicts, hops, alignment; nothing is saved"
        )
        self.analyze_button.clicked.connect(self.open_analyze)
        self.list_status = muted(label())
        self.list_status.hide()
        self.ip_list = IpList()
        self.ip_list.selected.connect(self.show_ip)
        self.ip_list.add_requested.connect(self.open_add_ip)
        # Two rows: three buttons side by side do not fit the sidebar's width.
        tools = hbox(self.diagnose_button, self.analyze_button)
        tools.addStretch(1)
        first = hbox(self.add_button)
        first.addStretch(1)
        buttons = vbox(first, tools)
        heading = label("Sending domains", wrap=False)
        sidebar = QWidget()
        layout = vbox(
            heading,
            self.domain_list,
            self.no_domains_label,
            buttons,
            self.list_status,
            SPACE_L,
            self.ip_list,
            spacing=SPACE_S,
        )
        layout.addStretch(1)
        sidebar.setLayout(layout)
        sidebar.setMinimumWidth(SIDEBAR_MIN_WIDTH)
        sidebar.setMaximumWidth(SIDEBAR_WIDTH)
        return sidebar

    # --- loading ------------------------------------------------------------------------------

    async def refresh(self) -> None:
        """Read domains and IPs again (off the GUI thread) and show them."""
        store = self.store
        if store is None:
            return
        found = await asyncio.to_thread(lambda: (domainview.summaries(store), ips.list_ips(store)))
        shown = self._show_loaded(*found)
        if shown is not None:
            await shown  # the selected domain's records too: the page is ready when this returns

    def reload(self) -> None:
        """Read domains and IPs again in the background and show them, keeping the selection."""
        if self.store is not None:
            start_task(self.refresh(), banner=self.banner)

    def _show_loaded(
        self, summaries: list[DomainSummary], found_ips: list[IpView]
    ) -> asyncio.Task[None] | None:
        self.summaries = {s.name: s for s in summaries}
        addresses = {ip.address for ip in found_ips}
        current = self.current
        if self._wanted in self.summaries:
            current, self._wanted = ("domain", self._wanted), None
        if current is None or current[1] not in (*self.summaries, *addresses):
            first = next(iter(self.summaries), None)
            current = ("domain", first) if first else None
        self._fill_domain_list(current)
        self.ip_list.show_ips(found_ips, current[1] if current and current[0] == "ip" else None)
        self.current = current
        shown = self._show_current(found_ips)
        self.clock.start()
        return shown

    def _fill_domain_list(self, current: tuple[str, str] | None) -> None:
        self.domain_list.blockSignals(True)
        self.domain_list.clear()
        self.rows = {}
        for summary in self.summaries.values():
            row = DomainRow(summary, self.actions)
            item = QListWidgetItem()
            item.setData(Qt.ItemDataRole.UserRole, summary.name)
            item.setSizeHint(row.sizeHint())
            self.domain_list.addItem(item)
            self.domain_list.setItemWidget(item, row)
            self.rows[summary.name] = row
            if current == ("domain", summary.name):
                self.domain_list.setCurrentItem(item)
        self.domain_list.blockSignals(False)
        self.domain_list.setVisible(bool(self.summaries))
        self.no_domains_label.setVisible(not self.summaries)

    def _show_current(self, found_ips: list | None = None) -> asyncio.Task[None] | None:
        """Show what is selected; a domain's detail is read in the background (the task)."""
        assert self.store is not None
        if self.current is None:
            self.stack.setCurrentIndex(0 if not self.summaries else 3)
            return None
        kind, key = self.current
        if kind == "domain":
            return start_task(self._show_domain_detail(key), banner=self.banner)
        found = found_ips if found_ips is not None else ips.list_ips(self.store)
        ip = next((i for i in found if i.address == key), None)
        if ip is not None:
            self.ip_panel.store = self.store
            self.ip_panel.show_ip(ip)
            self.stack.setCurrentIndex(2)

    async def _show_domain_detail(self, name: str) -> None:
        """Read the domain's records, report and history off the GUI thread, then show them."""
        store, summary = self.store, self.summaries[name]
        assert store is not None
        checked = summary.last_checked_at is not None
        detail = await asyncio.to_thread(domainview.domain_detail, store, name, checked=checked)
        if self.current != ("domain", name) or name not in self.summaries:
            return  # another domain was picked (or this one removed) while it was read
        self.detail.show_domain(self.summaries[name], detail)
        self._show_checking(name)
        self.stack.setCurrentIndex(1)

    def show_domain(self, name: str) -> None:
        """Select one domain (other tabs' "Open Dedicated Domain And IP" come here)."""
        wanted = domains.lookup_name(name) if name else ""
        if wanted in self.summaries:
            self.current = ("domain", wanted)
            self.reload()
        elif wanted:
            self._wanted = wanted  # added elsewhere since the last load: chosen on refresh
            if self.store is not None:
                self.reload()

    def _domain_picked(self, item: QListWidgetItem | None, _previous: object = None) -> None:
        if item is None:
            return
        self.current = ("domain", str(item.data(Qt.ItemDataRole.UserRole)))
        self.ip_list.clear_selection()
        self._show_current()

    def show_ip(self, address: str) -> None:
        self.current = ("ip", address)
        self.domain_list.blockSignals(True)
        self.domain_list.setCurrentItem(None)
        self.domain_list.blockSignals(False)
        self._show_current()

    def _tick(self) -> None:
        for row in self.rows.values():
            row.tick()
        if self.current and self.current[0] == "domain" and self.current[1] in self.summaries:
            self.detail.set_checked_text(self.summaries[self.current[1]])

    # --- the ⋯ menu and Verify Now ------------------------------------------------------------

    def open_activity(self, name: str) -> QWidget | None:
        """Show the Activity window for one domain's messages."""
        from postdesk.gui.dialogs.activity import open_activity

        if self.store is None:
            return None
        changes = self.context.changes if self.context is not None else None
        return open_activity(self, self.store, domain=name, changes=changes)

    def open_forwarding(self, name: str) -> QWidget | None:
        """The domain's forwarding rules."""
        from postdesk.gui.dialogs.forwarding import ForwardingDialog

        if self.store is None:
            return None
        dialog = ForwardingDialog(self.store, name, self)
        self.keep_open(dialog)
        dialog.load()
        return dialog

    def open_sender_addresses(self, name: str) -> QWidget | None:
        """The From addresses the domain's SMTP users may send as."""
        from postdesk.gui.dialogs.sender_addresses import SenderAddressesDialog

        if self.store is None:
            return None
        dialog = SenderAddressesDialog(self.store, name, self)
        self.keep_open(dialog)
        dialog.load()
        return dialog

    def verify(self, name: str) -> None:
        """Verify Now in the background: the window stays usable and Cancel stops it."""
        if name in self._verifying or self.store is None:
            return
        self._verifying[name] = self._verify(name)
        self._show_checking(name)

    def is_verifying(self, name: str) -> bool:
        return name in self._verifying

    @async_slot
    async def _verify(self, name: str) -> None:
        assert self.store is not None
        cancelled = False
        try:
            outcome = await domains.verify_domain(self.store, name)
        except asyncio.CancelledError:
            cancelled = True
            raise
        finally:
            self._verifying.pop(name, None)
            self._show_checking(name)
            if cancelled and self._showing(name):
                self.detail.set_checking(False, "Check cancelled; nothing was changed.")
        self.domain_checked(name, outcome)

    def cancel_verify(self, name: str) -> None:
        task = self._verifying.get(name)
        if task is not None:
            task.cancel()

    def _showing(self, name: str) -> bool:
        return self.current == ("domain", name)

    def _show_checking(self, name: str) -> None:
        if self._showing(name):
            running = name in self._verifying
            text = f"Checking DNS for {domains.shown_name(name)}…" if running else ""
            self.detail.set_checking(running, text)

    def domain_checked(self, name: str, outcome: VerifyOutcome) -> None:
        """A check finished (Verify Now or the background re-check): show the new state."""
        before = self.summaries.get(name)
        if before is not None:
            self.reload()
        self.publish(Change.DOMAINS, name)
        if outcome.regressed and self._showing(name):
            self.detail.broke_banner.show()
        newly_verified = outcome.status == "verified" and (
            before is None or before.status != "verified"
        )
        if newly_verified:
            self.show_next_step(name)

    def show_next_step(self, name: str) -> None:
        """A domain just verified: "now publish its records" is done, SMTP users come next."""
        shown = domains.shown_name(name)
        self.banner.show_message(
            "info",
            f"{shown} is verified. Next: create an SMTP user for each app that sends from it.",
            "Your shop, CRM or warm-up tool signs in with its own SMTP user to send through "
            "Postdesk.",
            action=("Create SMTP users", lambda: self.navigate.emit(Tab.SMTP_SETTINGS, name)),
        )

    # --- adding and removing domains ----------------------------------------------------------

    def open_add_domain(self) -> None:
        if self.store is None:
            return
        dialog = AddDomainDialog(self.store, list_services(self.store), self)
        dialog.accepted.connect(lambda: self.add_domain(dialog.domain(), dialog.service_name()))
        self.keep_open(dialog)

    @async_slot
    async def add_domain(self, name: str, service: str | None) -> None:
        """Add ``name`` (checked by the dialog): make its DKIM key and records, then show them."""
        assert self.store is not None
        shown = domains.shown_name(name)
        assert self.empty_state.button is not None
        self.empty_state.button.setEnabled(False)
        try:
            with busy(self.add_button, self.list_status, f"Adding {shown}: making its DKIM key…"):
                await domains.add_domain(self.store, name, service_name=service)
        finally:
            self.empty_state.button.setEnabled(True)
        self._wanted = name
        self.current = ("domain", name)
        await self.refresh()
        self.publish(Change.DOMAINS, name)
        self.banner.show_message(
            "info",
            f"{shown} added. Now publish its DNS records.",
            "Copy each record below into your DNS host, then press Verify Now. New records can "
            "take a few minutes to show up.",
        )

    def confirm_remove(self, name: str) -> None:
        if self.store is None:
            return
        shown = domains.shown_name(name)
        impact = domainview.removal_impact(self.store, name)
        users = f"its {impact.smtp_users} SMTP user{'s' if impact.smtp_users != 1 else ''}"
        confirm_destructive(
            self,
            title="Remove domain",
            text=f"Remove {shown}?",
            explanation=(
                f"Its DNS records, its DKIM keys and {users} are deleted too: apps that log in "
                f"with those SMTP users stop sending from {shown} immediately. Usage history "
                "stays. You can then delete its records at your DNS host."
            ),
            action="Remove",
            on_confirm=lambda: self.remove_domain(name),
        )

    @async_slot
    async def remove_domain(self, name: str) -> None:
        """Remove ``name`` with its keys and SMTP users (the user has confirmed)."""
        store = self.store
        assert store is not None
        self.cancel_verify(name)
        shown = domains.shown_name(name)
        with busy(self.add_button, self.list_status, f"Removing {shown}…"):
            await run_blocking(lambda: domains.remove_domain(store, name))
        if self.current == ("domain", name):
            self.current = None
        await self.refresh()
        self.publish(Change.DOMAINS, name)
        self.banner.show_message(
            "info", f"{shown} removed.", "You can now delete its records at your DNS host."
        )

    # --- diagnose and IPs ---------------------------------------------------------------------

    def open_diagnose(self) -> None:
        self.keep_open(DiagnoseDialog(self))

    def open_analyze(self) -> None:
        from postdesk.gui.dialogs.analyze import AnalyzeDialog  # the analyzer loads on first use

        self.keep_open(AnalyzeDialog(self))

    def open_add_ip(self) -> None:
        if self.store is None:
            return
        existing = [ip.address for ip in ips.list_ips(self.store)]
        dialog = AddIpDialog(existing, self)
        dialog.accepted.connect(lambda: self.add_ip(dialog.address(), dialog.ip_label()))
        self.keep_open(dialog)

    @async_slot
    async def add_ip(self, address: str, ip_label: str) -> None:
        """Add a dedicated IP (checked by the dialog) and start checking it."""
        store = self.store
        assert store is not None
        # Added elsewhere since the dialog opened: core refuses it and the banner says why.
        await asyncio.to_thread(ips.add_ip, store, address, ip_label)
        self.current = ("ip", address)
        await self.refresh()
        self.ip_panel.start_check()

    def _ip_changed(self) -> None:
        self.reload()

    def _ip_removed(self, address: str) -> None:
        if self.current == ("ip", address):
            self.current = None
        self.reload()
        self.banner.show_message("info", f"{address} removed from your dedicated IPs.")
