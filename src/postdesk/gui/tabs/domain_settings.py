"""Domain Settings: tracking, the service a domain sends through, reply-to, and DKIM keys."""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import TYPE_CHECKING

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QGridLayout,
    QGroupBox,
    QLabel,
    QLineEdit,
    QPushButton,
    QScrollArea,
    QSizePolicy,
    QStackedWidget,
    QWidget,
)

from postdesk.core import settings, tracking
from postdesk.core.domains import list_domains, lookup_name, shown_name
from postdesk.core.domainsettings import (
    dkim_keys,
    generate_new_key,
    set_domain_service,
    set_reply_to,
)
from postdesk.core.errors import UserError
from postdesk.core.events import Change
from postdesk.core.servicechange import ServiceChange, preview_service_change
from postdesk.core.services import list_services
from postdesk.core.views import DkimKeyView, DomainView, ServiceView
from postdesk.gui.asyncutil import async_slot, busy
from postdesk.gui.dialogs.change_service import ChangeServiceDialog, spf_advice
from postdesk.gui.qtutils import SPACE_L, SPACE_M, SPACE_S, SPACE_XS, hbox, label, muted, vbox
from postdesk.gui.tabs import Tab
from postdesk.gui.tabs.base import Page
from postdesk.gui.widgets.banner import Banner
from postdesk.gui.widgets.copyfield import WrappedCopyField
from postdesk.gui.widgets.dkim_keys import DkimKeyTable
from postdesk.gui.widgets.emptystate import EmptyState
from postdesk.gui.widgets.toggle_row import ToggleRow

if TYPE_CHECKING:
    from postdesk.core.store import Store

# Often enough that "in 12 min" never lags by a whole minute for long.
COUNTDOWN_INTERVAL_MS = 15_000
ERROR_COLOUR = "#c0392b"
# Amber that stays readable on light and dark backgrounds.
WARNING_COLOUR = "#a15c00"
NOT_APPLIED = "Tracking is on, but not applied yet. {reason}"
EXPLANATIONS = {
    "open": "Adds a tiny invisible image to each email, so you can see when it is opened.",
    "click": "Sends each link through your tracking address first, so you can see which "
    "links people click.",
}
ONE_CLICK_HELP = (
    "Adds List-Unsubscribe and List-Unsubscribe-Post headers (under the DKIM signature): the "
    "recipient's mail app shows an Unsubscribe button, and one click puts the address on the "
    "suppression list for this domain. Gmail and Yahoo ask bulk senders for this. The link "
    "points at the domain's tracking address: the headers are added once it is verified."
)
DKIM_HELP = (
    "A new key starts waiting for DNS. Publish its DKIM record (shown on the Dedicated Domain "
    "And IP tab) at your DNS host and press Verify Now there. Until the record is found, the "
    "current key keeps signing your mail."
)


def error_label() -> QLabel:
    widget = label(selectable=True)
    widget.setStyleSheet(f"color: {ERROR_COLOUR};")
    widget.hide()
    return widget


def group(title: str, *items: QWidget | object) -> QGroupBox:
    box = QGroupBox(title)
    box.setLayout(vbox(*items, margin=SPACE_M, spacing=SPACE_S))  # type: ignore[arg-type]
    # Spare height goes below the groups, not into gaps between their lines.
    box.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Maximum)
    return box


class DomainSettingsPage(Page):
    key = Tab.DOMAIN_SETTINGS
    watches = frozenset({Change.DOMAINS, Change.SERVICES, Change.SETTINGS})
    description = (
        "Turn open and click tracking on or off for a domain, and choose which service sends "
        "its mail."
    )

    def build_content(self) -> QWidget:
        self.domains: dict[str, DomainView] = {}
        self._wanted: str | None = None
        # The chosen domain's details as last read (the countdown redraws from them).
        self._states: dict[tracking.Feature, tracking.FeatureState] | None = None
        self._not_applied: str | None = None
        self.countdown = QTimer(self)
        self.countdown.setInterval(COUNTDOWN_INTERVAL_MS)
        self.countdown.timeout.connect(self.render_tracking)
        self.empty_state = EmptyState(
            "icons/empty-settings.png",
            "No domain to set up yet",
            "Add a domain on the Dedicated Domain And IP tab first; its settings will appear here.",
            button_text="Open Dedicated Domain And IP",
        )
        assert self.empty_state.button is not None
        self.empty_state.button.clicked.connect(lambda: self.navigate.emit(Tab.DOMAINS, ""))
        self.domain_combo = QComboBox()
        self.domain_combo.setAccessibleName("Domain")
        self.domain_combo.currentIndexChanged.connect(self._domain_chosen)
        picker = hbox(label("Domain:", wrap=False), self.domain_combo)
        picker.addStretch(1)

        left = vbox(self._build_tracking(), self._build_sending(), spacing=SPACE_L)
        left.addStretch(1)
        right = vbox(self._build_dkim(), self._build_webhooks(), spacing=SPACE_L)
        right.addStretch(1)
        columns = hbox(left, right, spacing=SPACE_L)
        columns.setStretch(0, 1)
        columns.setStretch(1, 1)
        settings_view = QWidget()
        settings_view.setLayout(vbox(picker, columns, spacing=SPACE_M))
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QScrollArea.Shape.NoFrame)
        scroll.setWidget(settings_view)
        # Let the page's own background show through, as on the other tabs.
        scroll.viewport().setAutoFillBackground(False)
        settings_view.setAutoFillBackground(False)
        self.settings_view = scroll
        self.stack = QStackedWidget()
        self.stack.addWidget(self.empty_state)
        self.stack.addWidget(scroll)
        return self.stack

    def _build_tracking(self) -> QGroupBox:
        self.tracking_note = muted(label())
        self.toggles = {
            f: ToggleRow(tracking.LABELS[f], EXPLANATIONS[f]) for f in tracking.FEATURES
        }
        for feature, row in self.toggles.items():
            row.switched.connect(lambda on, f=feature: self.switch_tracking(f, on))
        # Until the domain has a public, verified tracking address, mail goes out untracked.
        self.tracking_warning = label(selectable=True)
        self.tracking_warning.setStyleSheet(f"color: {WARNING_COLOUR};")
        self.tracking_warning.hide()
        return group("Tracking", self.tracking_note, *self.toggles.values(), self.tracking_warning)

    def _build_sending(self) -> QGroupBox:
        self.service_combo = QComboBox()
        self.service_combo.setAccessibleName("Sends through")
        self.service_combo.activated.connect(self._service_chosen)
        self.service_notice = Banner()
        self.reply_to_edit = QLineEdit()
        self.reply_to_edit.setAccessibleName("Reply-to address")
        self.reply_to_edit.setClearButtonEnabled(True)
        self.reply_to_edit.returnPressed.connect(self.save_reply_to)
        self.reply_to_edit.textEdited.connect(lambda _text: self.reply_to_error.hide())
        self.reply_to_save = QPushButton("Save")
        self.reply_to_save.clicked.connect(self.save_reply_to)
        self.reply_to_error = error_label()
        self.reply_to_status = muted(label())
        grid = QGridLayout()
        grid.setSpacing(SPACE_S)
        grid.addWidget(label("Sends through:", wrap=False), 0, 0)
        grid.addWidget(self.service_combo, 0, 1)
        self.spf_field = WrappedCopyField(name="SPF value")
        self.spf_block = QWidget()
        self.spf_block.setLayout(
            vbox(muted(label("New SPF value to publish:")), self.spf_field, spacing=SPACE_XS)
        )
        self.spf_block.hide()
        grid.addWidget(self.service_notice, 1, 0, 1, 2)
        grid.addWidget(self.spf_block, 2, 1)
        grid.addWidget(label("Reply-to address:", wrap=False), 3, 0)
        grid.addLayout(hbox(self.reply_to_edit, self.reply_to_save), 3, 1)
        grid.addWidget(self.reply_to_error, 4, 1)
        grid.addWidget(self.reply_to_status, 5, 1)
        grid.setColumnStretch(1, 1)
        self.one_click = ToggleRow("One-click unsubscribe", ONE_CLICK_HELP)
        self.one_click.switched.connect(self.switch_one_click)
        return group("Sending", grid, self.one_click)

    def _build_dkim(self) -> QGroupBox:
        self.key_table = DkimKeyTable()
        self.generate_button = QPushButton("Generate new key")
        self.generate_button.clicked.connect(self.generate_key)
        self.generate_status = muted(label())
        self.generate_status.hide()
        buttons = hbox(self.generate_button, self.generate_status)
        buttons.addStretch(1)
        return group("DKIM keys", self.key_table, buttons, muted(label(DKIM_HELP)))

    def _build_webhooks(self) -> QGroupBox:
        from postdesk.gui.widgets.provider_webhooks import ProviderWebhooks

        self.webhooks = ProviderWebhooks()
        self.webhooks.show_button.clicked.connect(self._reveal_webhooks)
        for provider, button in self.webhooks.key_buttons.items():
            button.clicked.connect(lambda _=False, p=provider: self.open_webhook_key(p))
        return group("Provider webhooks", self.webhooks)

    def open_webhook_key(self, provider: str) -> QDialog:
        """Ask for a provider's key (non-blocking); it is stored when the dialog is accepted."""
        from postdesk.gui.dialogs.webhook_key import WebhookKeyDialog
        from postdesk.gui.widgets.provider_webhooks import PROVIDER_NAMES

        dialog = WebhookKeyDialog(provider, PROVIDER_NAMES[provider], self)
        self.webhook_key_dialog = dialog
        dialog.accepted.connect(lambda: self._store_webhook_key(provider, dialog.value()))
        dialog.finished.connect(dialog.deleteLater)
        dialog.open()
        return dialog

    def _store_webhook_key(self, provider: str, value: str) -> None:
        from postdesk.gui.asyncutil import start_task

        self.key_task = start_task(self.save_webhook_key(provider, value), banner=self.banner)

    async def save_webhook_key(self, provider: str, value: str) -> None:
        """Store the key through the secrets gateway (off the GUI thread), then show the state."""
        from postdesk.core.webhooks.urls import set_secret
        from postdesk.gui.asyncutil import run_blocking

        store = self.store
        assert store is not None
        await run_blocking(lambda: set_secret(store, provider, value))
        if self.domain is not None:
            await self.load_webhooks(self.domain)

    def _reveal_webhooks(self) -> None:
        from postdesk.gui.asyncutil import start_task

        self.webhooks.reveal()
        if self.domain is not None and self.store is not None:
            start_task(self.load_webhooks(self.domain), banner=self.banner)

    async def load_webhooks(self, name: str) -> None:
        """Read each provider's URL and its events (the keyring is asked: off the GUI thread)."""
        from postdesk.core.webhooks.urls import webhook_status
        from postdesk.gui.asyncutil import run_blocking

        store = self.store
        assert store is not None
        try:
            found = await run_blocking(lambda: webhook_status(store, name))
        except UserError as error:  # no keyring: the window's banner already says so
            self.webhooks.show_problem(f"{error.message} {error.hint}".strip())
            return
        if name == self.domain:
            self.webhooks.show_status(found)

    # --- loading ------------------------------------------------------------------------------

    @property
    def domain(self) -> str | None:
        """The stored name of the domain on screen."""
        return self.domain_combo.currentData()

    async def refresh(self) -> None:
        assert self.store is not None
        domains, self.services, delay = await asyncio.to_thread(_read_page, self.store)
        self.domains = {d.name: d for d in domains}
        self.tracking_note.setText(
            "Tracking applies to every email a domain sends, not to single messages. "
            f"A change reaches outgoing mail after about {delay:g} minutes."
        )
        wanted = self._wanted or self.domain
        self._wanted = None
        self.domain_combo.blockSignals(True)
        self.domain_combo.clear()
        for name in self.domains:
            self.domain_combo.addItem(shown_name(name), name)
        index = self.domain_combo.findData(wanted) if wanted else 0
        self.domain_combo.setCurrentIndex(max(index, 0))
        self.domain_combo.blockSignals(False)
        if not self.domains:
            self.countdown.stop()
            self.stack.setCurrentWidget(self.empty_state)
            return
        self.stack.setCurrentWidget(self.settings_view)
        await self.load_domain()

    def show_domain(self, name: str) -> None:
        wanted = lookup_name(name)
        index = self.domain_combo.findData(wanted)
        if index < 0:
            self._wanted = wanted  # not listed yet: chosen when the page next refreshes
        else:
            self.domain_combo.setCurrentIndex(index)

    @async_slot
    async def _domain_chosen(self, _index: int) -> None:
        if self.domain is not None:
            self.banner.clear()
            await self.load_domain()

    async def load_domain(self) -> None:
        """Show every setting of the chosen domain (its details read off the GUI thread)."""
        name = self.domain
        domain = self.domains[name]  # type: ignore[index]
        self.service_notice.clear()
        self.spf_block.hide()
        self._show_services(domain)
        self.reply_to_edit.setText(domain.reply_to or "")
        self.reply_to_error.hide()
        self._show_reply_to_status(domain.reply_to)
        await self.load_details()

    async def load_details(self) -> None:
        """Read the domain's tracking state and DKIM keys in a worker thread, then show them."""
        assert self.store is not None
        name = self.domain
        if name is None:
            return
        details = await asyncio.to_thread(_read_details, self.store, name)
        if name != self.domain:
            return  # another domain was chosen meanwhile: its own load shows it
        self._states, self._not_applied, keys = details
        self.render_tracking()
        self.show_keys(keys)
        from postdesk.gui.asyncutil import start_task

        if self.webhooks.revealed:
            start_task(self.load_webhooks(name), banner=self.banner)
        start_task(self.load_one_click(name), banner=self.banner)

    async def load_one_click(self, name: str) -> None:
        """Show whether the domain's mail carries one-click unsubscribe headers."""
        from postdesk.core import unsubscribe

        store = self.store
        assert store is not None
        on = await asyncio.to_thread(unsubscribe.one_click_on, store, name)
        if name == self.domain:
            self.one_click.set_state(on)

    @async_slot
    async def switch_one_click(self, on: bool) -> None:
        """The user flipped one-click unsubscribe: core changes it (audited)."""
        from postdesk.core import unsubscribe

        if self.store is None or self.domain is None:
            return
        name = self.domain
        try:
            await asyncio.to_thread(unsubscribe.set_one_click, self.store, name, on)
        finally:
            await self.load_one_click(name)
        self.publish(Change.DOMAINS, name)

    # --- tracking -----------------------------------------------------------------------------

    def render_tracking(self, now: dt.datetime | None = None) -> None:
        """Show each toggle (the requested value while a change waits) and its countdown.

        The countdown calls this every few seconds: it works from the state last read, moved on
        to ``now``, and never asks the database.
        """
        if self._states is None:
            return
        now = now or dt.datetime.now(dt.UTC)
        states = {feature: state.at(now) for feature, state in self._states.items()}
        for feature, state in states.items():
            if state.pending is None:
                self.toggles[feature].set_state(state.enabled)
                continue
            now_word = "on" if state.enabled else "off"
            self.toggles[feature].set_state(
                state.pending.enabled,
                f"{state.describe(now)} Until then it stays {now_word}.",
            )
        if any(s.pending for s in states.values()):
            self.countdown.start()
        else:
            self.countdown.stop()
        wanted = any(s.pending.enabled if s.pending else s.enabled for s in states.values())
        reason = self._not_applied if wanted else None
        self.tracking_warning.setText(NOT_APPLIED.format(reason=reason) if reason else "")
        self.tracking_warning.setVisible(reason is not None)

    @async_slot
    async def switch_tracking(self, feature: tracking.Feature, enabled: bool) -> None:
        """The user flipped a toggle: ask core for the change (or cancel the pending one)."""
        if self.store is None or self.domain is None:
            return
        name = self.domain
        try:
            await asyncio.to_thread(tracking.set_tracking, self.store, name, feature, enabled)
        finally:
            await self.load_details()
        self.publish(Change.DOMAINS, name)

    # --- sending ------------------------------------------------------------------------------

    def _show_services(self, domain: DomainView) -> None:
        combo = self.service_combo
        combo.clear()
        for service in self.services:
            text = f"{service.name} (default)" if service.is_default else service.name
            combo.addItem(text, service.name)
        current = next((s.name for s in self.services if s.id == domain.service_id), None)
        if current is None:
            combo.insertItem(0, "Not chosen yet" if self.services else "No service added yet")
        combo.setCurrentIndex(max(combo.findData(current), 0) if current else 0)
        combo.setEnabled(bool(self.services))
        if not self.services:
            self.service_notice.show_message(
                "info",
                "No SMTP service yet.",
                "Add the service that delivers your mail on the SMTP Service tab first.",
                action=("Open SMTP Service", lambda: self.navigate.emit(Tab.SMTP_SERVICE, "")),
            )

    def _current_service(self) -> str | None:
        domain = self.domains.get(self.domain or "")
        if domain is None:
            return None
        return next((s.name for s in self.services if s.id == domain.service_id), None)

    def _show_current_service(self) -> None:
        current = self._current_service()
        self.service_combo.setCurrentIndex(
            max(self.service_combo.findData(current), 0) if current else 0
        )

    def _service_chosen(self, index: int) -> None:
        name = self.service_combo.itemData(index)
        if name is None or self.domain is None or name == self._current_service():
            return
        self.ask_service_change(self.domain, name)

    @async_slot
    async def ask_service_change(self, domain: str, service: str) -> None:
        """Show what changes (the SPF value to publish) and change only when confirmed."""
        store = self.store
        assert store is not None
        try:
            change = await asyncio.to_thread(preview_service_change, store, domain, service)
        finally:
            self._show_current_service()  # until the user confirms
        dialog = ChangeServiceDialog(change, self)
        dialog.accepted.connect(lambda: self.change_service(change))
        self.keep_open(dialog)

    @async_slot(button="service_combo")
    async def change_service(self, change: ServiceChange) -> None:
        """Send the domain through the confirmed service; show the SPF value to publish."""
        store = self.store
        assert store is not None
        await asyncio.to_thread(set_domain_service, store, change.domain, change.service)
        self.domains = {d.name: d for d in await asyncio.to_thread(list_domains, store)}
        if self.domain != change.domain:
            return
        if self.service_combo.itemData(0) is None:
            self.service_combo.removeItem(0)  # "Not chosen yet" no longer applies
        self._show_current_service()
        # In the page's banner: the Sending group is too narrow for a message with a button.
        self.banner.show_message(
            "info",
            f"Mail from {shown_name(change.domain)} now goes through {change.service}.",
            f"{spf_advice(change)} Then press Verify Now on the Dedicated Domain And IP tab, so "
            "the domain is checked again.",
            action=(
                "Open Dedicated Domain And IP",
                lambda: self.navigate.emit(Tab.DOMAINS, change.domain),
            ),
        )
        self.spf_field.set_value(change.spf_after or "")
        self.spf_block.setVisible(change.spf_changes and change.spf_after is not None)
        self.publish(Change.DOMAINS, change.domain)

    @async_slot(button="reply_to_save")
    async def save_reply_to(self) -> None:
        """Check and save the reply-to address; a bad one is explained under the field."""
        if self.store is None or self.domain is None:
            return
        store, name = self.store, self.domain
        try:
            saved = await asyncio.to_thread(set_reply_to, store, name, self.reply_to_edit.text())
        except UserError as error:
            self.reply_to_error.setText(f"{error.message} {error.hint}".strip())
            self.reply_to_error.show()
            self.reply_to_status.hide()
            return
        self.domains = {d.name: d for d in await asyncio.to_thread(list_domains, store)}
        if name == self.domain:
            self.reply_to_error.hide()
            self.reply_to_edit.setText(saved or "")
            self._show_reply_to_status(saved, saved_now=True)
        self.publish(Change.DOMAINS, name)

    def _show_reply_to_status(self, address: str | None, *, saved_now: bool = False) -> None:
        prefix = "Saved. " if saved_now else ""
        if address:
            text = f"Replies go to {address} unless the sending app sets its own reply-to."
        else:
            text = "No reply-to set: replies go to the sender's address. Leave empty to keep it so."
        self.reply_to_status.setText(prefix + text)
        self.reply_to_status.show()

    # --- DKIM ---------------------------------------------------------------------------------

    def show_keys(self, keys: list[DkimKeyView]) -> None:
        """List the domain's DKIM keys, newest first."""
        self.key_table.show_keys(keys)
        waiting = any(k.state == "pending" for k in keys)
        self.generate_button.setEnabled(not waiting)
        self.generate_status.setText(
            "A new key is waiting for its DNS record; publish it before making another."
        )
        self.generate_status.setVisible(waiting)

    @async_slot
    async def generate_key(self) -> None:
        """Make a new 2048-bit key off the GUI thread; it waits for its DNS record."""
        assert self.store is not None and self.domain is not None
        name = self.domain
        with busy(self.generate_button, self.generate_status, "Making a new key…"):
            key = await generate_new_key(self.store, name)
        if name == self.domain:
            await self.load_details()
            self.generate_status.setText(
                f"New key {key.selector} made. Publish its DKIM record and press Verify Now."
            )
        self.publish(Change.DOMAINS, self.domain)


def _read_page(store: Store) -> tuple[list[DomainView], list[ServiceView], float]:
    """What the page lists, in one pass (blocking: call it in a worker thread)."""
    with store.session() as s:
        delay = float(settings.get(s, "tracking_delay_minutes"))
    return list_domains(store), list_services(store), delay


def _read_details(
    store: Store, name: str
) -> tuple[dict[tracking.Feature, tracking.FeatureState], str | None, list[DkimKeyView]]:
    """One domain's tracking state, why tracking is not applied (if so) and its DKIM keys."""
    states = tracking.tracking_state(store, name)
    with store.session() as s:
        reason = tracking.tracking_address_status(s, name).reason
    return states, reason, dkim_keys(store, name)
