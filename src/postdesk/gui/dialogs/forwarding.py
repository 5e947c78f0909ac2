"""Forwarding rules of one domain: mail to an address (or to any address) goes on to an inbox.

The copies keep the original message and its DKIM signature; Postdesk rewrites the envelope
sender (SRS) and adds an ARC seal, so the destination can still trust it.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from PySide6.QtWidgets import (
    QCheckBox,
    QDialog,
    QDialogButtonBox,
    QLineEdit,
    QMessageBox,
    QPushButton,
    QStackedWidget,
    QWidget,
)

from postdesk.gui.asyncutil import LatestRead, async_slot
from postdesk.gui.confirm import confirm_destructive
from postdesk.gui.dialogs.fields import inline_message, show_inline
from postdesk.gui.qtutils import PAGE_MARGIN, SPACE_M, SPACE_S, SPACE_XS, hbox, label, muted, vbox
from postdesk.gui.widgets.banner import Banner
from postdesk.gui.widgets.emptystate import EmptyState
from postdesk.gui.widgets.plain_table import PlainTable
from postdesk.gui.widgets.shown_refresh import ShownRefresh
from postdesk.gui.widgets.stats_panel import heading, local_time

if TYPE_CHECKING:
    from postdesk.core.forwarding import RuleView
    from postdesk.core.store import Store

DIALOG_SIZE = (720, 520)
COLUMNS = ("Mail to", "Goes on to", "State", "Added")
CATCH_ALL = "*"


def rule_state(rule: RuleView) -> str:
    return "Forwarding" if rule.enabled else "Paused"


def rule_address(rule: RuleView) -> str:
    if rule.local_part == CATCH_ALL:
        return f"any other address @{rule.domain}"
    return rule.address


class ForwardingDialog(QDialog):
    """The rules of one domain, with Add and Remove."""

    def __init__(self, store: Store, domain: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.store = store
        self.domain = domain
        self.rules: list[RuleView] = []
        self.setWindowTitle(f"Forwarding for {domain}")
        self.setModal(False)
        self.resize(*DIALOG_SIZE)
        self.banner = Banner()
        # The command line (or another window) may add or pause rules while this one is open.
        self.reads = LatestRead(self.refresh, banner=self.banner, when=self.isVisible)
        self.refresher = ShownRefresh(self, self.reads)
        self.table = PlainTable(COLUMNS, stretch=1)
        self.table.setAccessibleName("Forwarding rules")
        self.table.itemSelectionChanged.connect(self._update_buttons)
        self.empty = EmptyState(
            "icons/empty-settings.png",
            "No forwarding yet",
            f"Mail to {domain} stays in Conversations. Add a rule to also send it on to an "
            "inbox you read, such as a team address at your mail provider.",
        )
        self.stack = QStackedWidget()
        self.stack.addWidget(self.table)
        self.stack.addWidget(self.empty)

        self.local_edit = QLineEdit()
        self.local_edit.setPlaceholderText("e.g. info")
        self.local_edit.setAccessibleName("Address before @")
        self.local_edit.returnPressed.connect(self._add_if_filled)
        self.catch_all = QCheckBox("Any address (catch-all)")
        self.catch_all.setToolTip("Every address of the domain that has no rule of its own")
        self.catch_all.toggled.connect(self._catch_all_toggled)
        self.destination_edit = QLineEdit()
        self.destination_edit.setPlaceholderText("e.g. team@yourcompany.example")
        self.destination_edit.setAccessibleName("Forward to")
        self.destination_edit.returnPressed.connect(self._add_if_filled)
        self.destination_edit.textChanged.connect(self._update_buttons)
        self.local_edit.textChanged.connect(self._update_buttons)
        self.add_button = QPushButton("Add rule")
        self.add_button.clicked.connect(self._add_if_filled)
        self.remove_button = QPushButton("Remove")
        self.remove_button.clicked.connect(self.confirm_remove)
        self.pause_button = QPushButton("Pause")
        self.pause_button.setToolTip("Keep this address's mail here only; the rule stays")
        self.pause_button.clicked.connect(self.toggle_selected)
        self.add_message = inline_message()
        # Enter belongs to the field being typed in (it adds the rule), never to Remove.
        for button in (self.add_button, self.remove_button, self.pause_button):
            button.setAutoDefault(False)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        buttons.button(QDialogButtonBox.StandardButton.Close).setAutoDefault(False)

        address_row = hbox(
            self.local_edit, label(f"@{domain}", wrap=False), self.catch_all, spacing=SPACE_XS
        )
        form = vbox(
            label("Mail to"),
            address_row,
            label("Goes on to"),
            hbox(self.destination_edit, self.add_button, spacing=SPACE_S),
            self.add_message,
            spacing=SPACE_XS,
        )
        table_buttons = hbox(
            muted(label("A rule for an address wins over the catch-all.", wrap=False))
        )
        table_buttons.addStretch(1)
        table_buttons.addWidget(self.pause_button)
        table_buttons.addWidget(self.remove_button)
        self.setLayout(
            vbox(
                heading(f"Forwarding for {domain}"),
                self.banner,
                self.stack,
                table_buttons,
                form,
                muted(
                    label(
                        "Forwarded copies go out through the domain's SMTP service and count in "
                        "the daily usage. A message that is already going round in a loop is "
                        "not forwarded again."
                    )
                ),
                buttons,
                margin=PAGE_MARGIN,
                spacing=SPACE_M,
            )
        )
        self._update_buttons()
        self.local_edit.setFocus()  # opened to add a rule, most often: type at once

    @async_slot
    async def load(self) -> None:
        """Read the domain's rules off the GUI thread and show them."""
        await self.refresh()

    async def refresh(self) -> None:
        """Read the rules and show them, keeping the selected one selected."""
        from postdesk.core import forwarding

        rules = await asyncio.to_thread(forwarding.list_rules, self.store, self.domain)
        chosen = self.selected()  # by the rows still shown, before they are replaced
        self.rules = rules
        self.table.fill(
            [
                (rule_address(r), r.destination, rule_state(r), local_time(r.created_at))
                for r in self.rules
            ]
        )
        self.table.clearSelection()  # a row removed meanwhile is not replaced by its neighbour
        if chosen is not None:
            for row, rule in enumerate(self.rules):
                if rule.id == chosen.id:
                    self.table.selectRow(row)
        self.stack.setCurrentWidget(self.table if self.rules else self.empty)
        self._update_buttons()

    def selected(self) -> RuleView | None:
        row = self.table.selected_row()
        return self.rules[row] if row is not None and row < len(self.rules) else None

    def local_part(self) -> str:
        return CATCH_ALL if self.catch_all.isChecked() else self.local_edit.text().strip()

    def _catch_all_toggled(self, on: bool) -> None:
        self.local_edit.setEnabled(not on)
        self._update_buttons()

    def _update_buttons(self) -> None:
        filled = bool(self.local_part()) and bool(self.destination_edit.text().strip())
        self.add_button.setEnabled(filled)
        rule = self.selected()
        self.remove_button.setEnabled(rule is not None)
        self.pause_button.setEnabled(rule is not None)
        self.pause_button.setText("Resume" if rule is not None and not rule.enabled else "Pause")

    def _add_if_filled(self) -> None:
        if self.add_button.isEnabled():
            self.add()
        elif not self.local_part():
            self.local_edit.setFocus()
        else:
            self.destination_edit.setFocus()

    @async_slot(button="add_button")
    async def add(self) -> None:
        """Add the rule typed in; a problem shows under the fields, which keep what was typed."""
        from postdesk.core import forwarding
        from postdesk.core.errors import UserError

        local, destination = self.local_part(), self.destination_edit.text().strip()
        show_inline(self.add_message, "", error=False)
        try:
            rule = await asyncio.to_thread(
                forwarding.add_rule, self.store, self.domain, local, destination
            )
        except UserError as error:
            show_inline(self.add_message, f"{error.message} {error.hint}".strip(), error=True)
            return
        self.local_edit.clear()
        self.destination_edit.clear()
        self.catch_all.setChecked(False)
        self.banner.show_message(
            "info", f"Mail to {rule_address(rule)} now also goes to {rule.destination}."
        )
        await self.refresh()

    def confirm_remove(self) -> QMessageBox | None:
        """Ask before removing the selected rule (Cancel is the default)."""
        rule = self.selected()
        if rule is None:
            return None
        return confirm_destructive(
            self,
            title="Remove forwarding rule",
            text=f"Stop forwarding mail to {rule_address(rule)} to {rule.destination}?",
            explanation="Mail already forwarded stays where it went; new mail is only kept here.",
            action="Remove",
            on_confirm=lambda: self.remove(rule),
        )

    @async_slot(button="remove_button")
    async def remove(self, rule: RuleView) -> None:
        from postdesk.core import forwarding

        await asyncio.to_thread(
            forwarding.remove_rule, self.store, self.domain, rule.local_part, rule.destination
        )
        self.banner.show_message(
            "info", f"Mail to {rule_address(rule)} no longer goes to {rule.destination}."
        )
        await self.refresh()

    @async_slot(button="pause_button")
    async def toggle_selected(self) -> None:
        """Pause the selected rule, or resume it when it is paused; the rule stays listed."""
        from postdesk.core import forwarding

        rule = self.selected()
        if rule is None:
            return
        await asyncio.to_thread(
            forwarding.set_enabled,
            self.store,
            self.domain,
            rule.local_part,
            rule.destination,
            not rule.enabled,
        )
        if rule.enabled:
            text = (
                f"Paused: mail to {rule_address(rule)} is kept here, "
                f"not sent to {rule.destination}."
            )
        else:
            text = f"Mail to {rule_address(rule)} goes to {rule.destination} again."
        self.banner.show_message("info", text)
        await self.refresh()
