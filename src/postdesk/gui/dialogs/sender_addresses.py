"""Sender addresses of one domain: which From addresses its SMTP users may send as.

Adding an address sends a confirmation code to it; the code is typed here (or, when Postdesk
receives that domain's mail, picked up from Conversations by itself). With the policy "listed",
the relay refuses any From address not confirmed here.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from PySide6.QtWidgets import (
    QButtonGroup,
    QDialog,
    QDialogButtonBox,
    QLineEdit,
    QMessageBox,
    QPushButton,
    QRadioButton,
    QStackedWidget,
    QWidget,
)

from postdesk.gui.asyncutil import LatestRead, async_slot
from postdesk.gui.confirm import confirm_destructive
from postdesk.gui.dialogs.fields import inline_message, show_inline
from postdesk.gui.qtutils import PAGE_MARGIN, SPACE_M, SPACE_S, hbox, label, muted, vbox
from postdesk.gui.widgets.banner import Banner
from postdesk.gui.widgets.emptystate import EmptyState
from postdesk.gui.widgets.plain_table import PlainTable
from postdesk.gui.widgets.shown_refresh import ShownRefresh
from postdesk.gui.widgets.stats_panel import heading, local_time

if TYPE_CHECKING:
    from postdesk.core.senders import SenderView
    from postdesk.core.store import Store

DIALOG_SIZE = (720, 560)
COLUMNS = ("Address", "Status", "Since")
STATUS_WORDS = {"verified": "Confirmed", "pending": "Waiting for the code"}
ANY, LISTED = "any", "listed"


def _read(store: Store, domain: str) -> tuple[list[SenderView], str]:
    from postdesk.core import senders

    policy, _confirmed = senders.get_policy(store, domain)
    return senders.list_senders(store, domain), policy


class SenderAddressesDialog(QDialog):
    """The list, Add (a code is sent), Confirm code, Remove, and the policy any/listed."""

    def __init__(self, store: Store, domain: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.store = store
        self.domain = domain
        self.senders: list[SenderView] = []
        self.setWindowTitle(f"Sender addresses of {domain}")
        self.setModal(False)
        self.resize(*DIALOG_SIZE)
        self.banner = Banner()
        # A code is confirmed by itself when its mail arrives in Conversations; show it.
        self.reads = LatestRead(self.refresh, banner=self.banner, when=self.isVisible)
        self.refresher = ShownRefresh(self, self.reads)
        self._policy_saves = 0  # a read begun before a save must not show the older policy

        self.any_radio = QRadioButton(f"Any address on {domain} (the default)")
        self.listed_radio = QRadioButton("Only the confirmed addresses listed here")
        self.policy_group = QButtonGroup(self)
        for radio in (self.any_radio, self.listed_radio):
            self.policy_group.addButton(radio)
        self.any_radio.setChecked(True)
        self.policy_group.buttonClicked.connect(lambda _b: self.save_policy())
        self.policy_message = inline_message()

        self.table = PlainTable(COLUMNS)
        self.table.setAccessibleName("Sender addresses")
        self.table.itemSelectionChanged.connect(self._update_buttons)
        self.empty = EmptyState(
            "icons/empty-logins.png",
            "No sender addresses yet",
            f"As it is, the SMTP users may send as any address on {domain}. Add the addresses "
            "you send from (each gets a code to confirm it), then choose 'Only the confirmed "
            "addresses' to have the relay refuse every other From address.",
        )
        self.stack = QStackedWidget()
        self.stack.addWidget(self.table)
        self.stack.addWidget(self.empty)

        self.address_edit = QLineEdit()
        self.address_edit.setPlaceholderText(f"e.g. sales@{domain}")
        self.address_edit.setAccessibleName("New sender address")
        self.address_edit.returnPressed.connect(self._add_if_typed)
        self.address_message = inline_message()
        self.add_button = QPushButton("Add and send code")
        self.add_button.clicked.connect(self._add_if_typed)
        self.code_edit = QLineEdit()
        self.code_edit.setPlaceholderText("6-digit code")
        self.code_edit.setAccessibleName("Confirmation code")
        self.code_edit.setMaxLength(12)
        self.code_edit.returnPressed.connect(self._confirm_if_typed)
        self.confirm_button = QPushButton("Confirm code")
        self.confirm_button.clicked.connect(self._confirm_if_typed)
        self.remove_button = QPushButton("Remove")
        self.remove_button.clicked.connect(self.confirm_remove)
        self.code_message = inline_message()
        # Enter belongs to the field being typed in, never to a button elsewhere.
        for button in (self.add_button, self.confirm_button, self.remove_button):
            button.setAutoDefault(False)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        buttons.button(QDialogButtonBox.StandardButton.Close).setAutoDefault(False)

        add_row = hbox(self.address_edit, self.add_button, spacing=SPACE_S)
        code_row = hbox(
            label("Code for the selected address", wrap=False),
            self.code_edit,
            self.confirm_button,
            spacing=SPACE_S,
        )
        code_row.addStretch(1)
        code_row.addWidget(self.remove_button)
        self.setLayout(
            vbox(
                heading(f"Sender addresses of {domain}"),
                self.banner,
                label("Which From addresses may this domain's SMTP users send as?"),
                self.any_radio,
                self.listed_radio,
                self.policy_message,
                self.stack,
                code_row,
                self.code_message,
                add_row,
                self.address_message,
                muted(
                    label(
                        "A code is sent to each new address through the domain's SMTP service. "
                        "When Postdesk receives that address's mail, the code is confirmed by "
                        "itself as soon as it arrives in Conversations."
                    )
                ),
                buttons,
                margin=PAGE_MARGIN,
                spacing=SPACE_M,
            )
        )
        self._update_buttons()
        self.address_edit.setFocus()  # opened to add an address, most often: type at once

    # --- reading ------------------------------------------------------------------------------

    @async_slot
    async def load(self) -> None:
        """Read the addresses and the policy off the GUI thread and show them."""
        await self.refresh()

    async def refresh(self) -> None:
        """Read the addresses and the policy and show them, keeping the selection."""
        saves = self._policy_saves
        found, policy = await asyncio.to_thread(_read, self.store, self.domain)
        selected = self.selected()  # by the rows still shown, before they are replaced
        self.senders = found
        self.stack.setCurrentWidget(self.table if found else self.empty)
        self.table.fill(
            [
                (
                    s.address,
                    STATUS_WORDS.get(s.status, s.status),
                    local_time(s.verified_at or s.code_sent_at or s.created_at),
                )
                for s in self.senders
            ]
        )
        self.table.clearSelection()  # a row removed meanwhile is not replaced by its neighbour
        for row, sender in enumerate(self.senders):
            if selected is not None and sender.address == selected.address:
                self.table.selectRow(row)
        if saves == self._policy_saves:
            (self.listed_radio if policy == LISTED else self.any_radio).setChecked(True)
        self._show_policy_note()
        self._update_buttons()

    def selected(self) -> SenderView | None:
        row = self.table.selected_row()
        return self.senders[row] if row is not None and row < len(self.senders) else None

    def _update_buttons(self) -> None:
        chosen = self.selected()
        waiting = chosen is not None and chosen.status == "pending"
        self.confirm_button.setEnabled(waiting)
        self.code_edit.setEnabled(waiting)
        self.remove_button.setEnabled(chosen is not None)

    def _show_policy_note(self) -> None:
        confirmed = sum(1 for s in self.senders if s.status == "verified")
        note = ""
        if self.listed_radio.isChecked() and not confirmed:
            note = "No address is confirmed yet, so the relay refuses all mail from this domain."
        show_inline(self.policy_message, note, error=True)

    # --- actions ------------------------------------------------------------------------------

    def _add_if_typed(self) -> None:
        if self.address_edit.text().strip() and self.add_button.isEnabled():
            self.add()

    def _confirm_if_typed(self) -> None:
        if self.code_edit.text().strip() and self.confirm_button.isEnabled():
            self.confirm()

    @async_slot(button="add_button")
    async def add(self) -> None:
        """Add the typed address and send it a code."""
        from postdesk.core import senders
        from postdesk.core.errors import UserError

        address = self.address_edit.text().strip()
        show_inline(self.address_message, "", error=False)
        if "@" in address and address.rpartition("@")[2].lower() != self.domain:
            # core would file it under its own domain, out of this list.
            show_inline(
                self.address_message,
                f"This list is for addresses @{self.domain}. Type one ending in @{self.domain}, "
                "or open the Sender addresses of the other domain.",
                error=True,
            )
            return
        try:
            added = await asyncio.to_thread(senders.add_sender, self.store, address)
        except UserError as error:
            # Under the field, which keeps what was typed so it can be corrected.
            show_inline(self.address_message, f"{error.message} {error.hint}".strip(), error=True)
            return
        self.address_edit.clear()
        self.banner.show_message(
            "info",
            f"A confirmation code was sent to {added.address}.",
            "Select it in the list and type the code from that mail.",
        )
        await self.refresh()
        self._select(added.address)

    @async_slot(button="confirm_button")
    async def confirm(self) -> None:
        """Confirm the selected address with the typed code."""
        from postdesk.core import senders

        chosen = self.selected()
        if chosen is None:
            return
        code = self.code_edit.text().strip()
        show_inline(self.code_message, "", error=False)
        try:
            await asyncio.to_thread(senders.confirm_sender, self.store, chosen.address, code)
        except Exception as error:
            from postdesk.core.errors import UserError

            if not isinstance(error, UserError):
                raise
            show_inline(self.code_message, f"{error.message} {error.hint}", error=True)
            return
        self.code_edit.clear()
        self.banner.show_message("info", f"{chosen.address} is confirmed.")
        await self.refresh()

    def confirm_remove(self) -> QMessageBox | None:
        """Ask before removing the selected address (Cancel is the default)."""
        chosen = self.selected()
        if chosen is None:
            return None
        return confirm_destructive(
            self,
            title="Remove sender address",
            text=f"Remove {chosen.address}?",
            explanation="With the policy 'listed' the relay then refuses mail from it; using it "
            "again needs a new code.",
            action="Remove",
            on_confirm=lambda: self.remove(chosen),
        )

    @async_slot(button="remove_button")
    async def remove(self, chosen: SenderView) -> None:
        from postdesk.core import senders

        await asyncio.to_thread(senders.remove_sender, self.store, chosen.address)
        self.banner.show_message("info", f"{chosen.address} was removed.")
        await self.refresh()

    @async_slot
    async def save_policy(self) -> None:
        from postdesk.core import senders

        policy = LISTED if self.listed_radio.isChecked() else ANY
        self._policy_saves += 1
        await asyncio.to_thread(senders.set_policy, self.store, self.domain, policy)
        self._show_policy_note()

    def _select(self, address: str) -> None:
        for row, sender in enumerate(self.senders):
            if sender.address == address:
                self.table.selectRow(row)
