"""The suppression list: addresses that get no more mail, why and since when.

One list for the whole workspace (every domain and service). Adding and removing by hand are
audited; removing asks first. Reading and writing run off the GUI thread.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QDialog,
    QFileDialog,
    QHeaderView,
    QLineEdit,
    QPushButton,
    QStackedWidget,
    QTableWidget,
    QTableWidgetItem,
    QWidget,
)

from postdesk.core import suppression
from postdesk.core.errors import UserError
from postdesk.core.store import Store
from postdesk.core.views import SUPPRESSION_REASONS, SuppressionView
from postdesk.gui.asyncutil import LatestRead, async_slot, run_blocking
from postdesk.gui.confirm import confirm_destructive
from postdesk.gui.dialogs.add_suppression import (
    ALL,
    EVERY_DOMAIN,
    AddSuppressionDialog,
    reason_words,
)
from postdesk.gui.qtutils import (
    PAGE_MARGIN,
    SPACE_M,
    SPACE_S,
    hbox,
    label,
    muted,
    vbox,
)
from postdesk.gui.widgets.banner import Banner
from postdesk.gui.widgets.emptystate import EmptyState
from postdesk.gui.widgets.shown_refresh import ShownRefresh
from postdesk.gui.widgets.stats_panel import heading, local_time

# Who acted, in the audit log.
BY = "window"
DIALOG_SIZE = (980, 600)
COLUMNS = ("Address", "Domain", "Reason", "Since", "Detail")
ADDRESS_COLUMN = COLUMNS.index("Address")
TEXT_COLUMN_MAX_WIDTH = 260
EMPTY_LIST = (
    "Nobody is suppressed",
    "Addresses land here after a hard bounce, a spam complaint or an unsubscribe, or when you "
    "add them. Postdesk then refuses mail to them for every domain.",
)
# Addresses are listed, but the search and the reason filter let none through.
EMPTY_FILTERED = (
    "No address matches",
    "Clear the search, or choose Every reason, to see the others.",
)


class SuppressionDialog(QDialog):
    """The list with search and reason filter; Add…, Remove…, Import CSV…, Export CSV…."""

    def __init__(self, store: Store, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.store = store
        self.entries: list[SuppressionView] = []
        self.domains: list[str] = []
        self.setWindowTitle("Suppression list")
        self.setModal(False)
        self.resize(*DIALOG_SIZE)
        self.banner = Banner()
        self.reads = LatestRead(self.refresh, banner=self.banner, when=self.isVisible)
        # Bounces and complaints suppress addresses while the window is open.
        self.refresher = ShownRefresh(self, self.reads)
        self.search_edit = QLineEdit()
        self.search_edit.setPlaceholderText("Search addresses")
        self.search_edit.setClearButtonEnabled(True)
        self.search_edit.textChanged.connect(self.reload)
        self.reason_filter = QComboBox()
        self.reason_filter.addItem("Every reason", ALL)
        for reason in SUPPRESSION_REASONS:
            self.reason_filter.addItem(reason_words(reason), reason)
        self.reason_filter.currentIndexChanged.connect(self.reload)
        self.add_button = QPushButton("Add…")
        self.add_button.clicked.connect(self.open_add)
        self.remove_button = QPushButton("Remove…")
        self.remove_button.setToolTip("Let mail reach the selected address again")
        self.remove_button.clicked.connect(self.confirm_remove)
        self.import_button = QPushButton("Import CSV…")
        self.import_button.setToolTip("Lines of address[,reason[,detail]]; a header is optional")
        self.import_button.clicked.connect(self.ask_import)
        self.export_button = QPushButton("Export CSV…")
        self.export_button.clicked.connect(self.ask_export)
        self.summary_label = muted(label(wrap=False))
        self.action_status = muted(label())
        self.table = self._build_table()
        self.empty = EmptyState("icons/empty-logins.png", *EMPTY_LIST)
        self.stack = QStackedWidget()
        self.stack.addWidget(self.table)
        self.stack.addWidget(self.empty)
        tools = hbox(self.search_edit, self.reason_filter, spacing=SPACE_S)
        tools.setStretch(0, 1)
        actions = hbox(self.add_button, self.remove_button, spacing=SPACE_S)
        actions.addStretch(1)
        actions.addWidget(self.import_button)
        actions.addWidget(self.export_button)
        self.setLayout(
            vbox(
                heading("Suppression list"),
                muted(
                    label(
                        "One list for the workspace: the relay refuses mail to these addresses "
                        "and says why. Removing an address is recorded in the audit log."
                    )
                ),
                self.banner,
                tools,
                actions,
                hbox(self.summary_label, self.action_status, spacing=SPACE_M),
                self.stack,
                margin=PAGE_MARGIN,
                spacing=SPACE_S,
            )
        )
        self.add_dialog: AddSuppressionDialog | None = None
        self._update_buttons()

    def _build_table(self) -> QTableWidget:
        table = QTableWidget(0, len(COLUMNS))
        table.setHorizontalHeaderLabels(COLUMNS)
        table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        table.setShowGrid(False)
        table.setWordWrap(False)
        table.verticalHeader().hide()
        header = table.horizontalHeader()
        header.setDefaultAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter)
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        # The last column takes the room left (also when the rows are shown for the first time).
        header.setSectionResizeMode(len(COLUMNS) - 1, QHeaderView.ResizeMode.Stretch)
        table.itemSelectionChanged.connect(self._update_buttons)
        return table

    # --- loading ------------------------------------------------------------------------------

    def showEvent(self, event) -> None:  # type: ignore[no-untyped-def]
        super().showEvent(event)
        self.reload()

    def reload(self) -> None:
        """Read again: now, or right after the read that is running."""
        self.reads()

    async def refresh(self) -> None:
        """Read the list with the search and filter applied and show it."""
        store = self.store
        search = self.search_edit.text().strip() or None
        reason = self.reason_filter.currentData() or None
        entries, total, names = await run_blocking(
            lambda: (
                suppression.list_entries(store, search=search, reason=reason),
                suppression.count(store),
                _domain_names(store),
            )
        )
        self.domains = names
        self._show(entries, total)

    def _show(self, entries: list[SuppressionView], total: int) -> None:
        chosen = self.selected()
        self.entries = entries
        shown = f"{len(entries):,} of {total:,}" if len(entries) != total else f"{total:,}"
        self.summary_label.setText(f"{shown} address{'es' if total != 1 else ''} suppressed")
        self.stack.setCurrentIndex(0 if entries else 1)
        heading_text, text = EMPTY_FILTERED if total else EMPTY_LIST
        self.empty.heading_label.setText(heading_text)
        self.empty.text_label.setText(text)
        self.table.blockSignals(True)
        self.table.setRowCount(len(entries))
        for row, entry in enumerate(entries):
            cells = (
                entry.address,
                entry.scope or EVERY_DOMAIN,
                reason_words(entry.reason),
                local_time(entry.created_at),
                entry.detail,
            )
            for column, text in enumerate(cells):
                item = QTableWidgetItem(text)
                item.setToolTip(text)
                self.table.setItem(row, column, item)
        for column in range(len(COLUMNS) - 1):
            self.table.resizeColumnToContents(column)
            if self.table.columnWidth(column) > TEXT_COLUMN_MAX_WIDTH:
                self.table.setColumnWidth(column, TEXT_COLUMN_MAX_WIDTH)
        self.table.clearSelection()
        keys = [(e.address, e.scope) for e in entries]
        if chosen is not None and (chosen.address, chosen.scope) in keys:
            self.table.selectRow(keys.index((chosen.address, chosen.scope)))
        self.table.blockSignals(False)
        self._update_buttons()

    def selected(self) -> SuppressionView | None:
        """The entry whose row is selected, if any."""
        rows = self.table.selectionModel().selectedRows()
        if not rows or rows[0].row() >= len(self.entries):
            return None
        return self.entries[rows[0].row()]

    def select_address(self, address: str) -> bool:
        """Select the first row of ``address``; False when it is not listed."""
        for row, entry in enumerate(self.entries):
            if entry.address == address:
                self.table.selectRow(row)
                return True
        return False

    def _update_buttons(self) -> None:
        self.remove_button.setEnabled(self.selected() is not None)

    # --- add and remove -------------------------------------------------------------------------

    def open_add(self) -> AddSuppressionDialog:
        """Open the Add dialog (non-blocking); the address is added when it is accepted."""
        dialog = AddSuppressionDialog(self.domains, self)
        self.add_dialog = dialog
        dialog.accepted.connect(lambda: self.add(dialog.values()))
        dialog.finished.connect(dialog.deleteLater)
        dialog.open()
        return dialog

    @async_slot(button="add_button")
    async def add(self, values: tuple[str, str, str, str]) -> None:
        """Add one address by hand (audited), then show the list with it selected."""
        address, reason, scope, note = values
        store = self.store
        added = await run_blocking(
            lambda: suppression.add(store, address, reason=reason, note=note, scope=scope, by=BY)
        )
        self.action_status.setText(
            f"{address} added." if added else f"{address} was already on the list."
        )
        await self.refresh()
        self.select_address(address.strip().lower())

    def confirm_remove(self) -> object:
        """Ask before taking the selected address off the list."""
        entry = self.selected()
        if entry is None:
            return None
        where = f"from {entry.scope}" if entry.scope else "from every domain"
        return confirm_destructive(
            self,
            title="Remove from the suppression list?",
            text=f"Let mail {where} reach {entry.address} again?",
            explanation=f"It was suppressed: {entry.describe()}. The removal is recorded in "
            "the audit log; a new bounce or complaint puts the address back.",
            action="Remove",
            on_confirm=lambda: self.remove(entry),
        )

    @async_slot(button="remove_button")
    async def remove(self, entry: SuppressionView) -> None:
        """Take one entry off the list (audited by core)."""
        store = self.store
        removed = await run_blocking(
            lambda: suppression.remove(store, entry.address, entry.scope, by=BY)
        )
        self.action_status.setText(
            f"{entry.address} removed: mail can reach it again."
            if removed
            else f"{entry.address} was already removed."
        )
        await self.refresh()

    # --- CSV --------------------------------------------------------------------------------

    def ask_import(self) -> QFileDialog:
        """Ask for a CSV file to import (a non-blocking dialog)."""
        dialog = QFileDialog(self, "Import addresses", str(Path.home()), "CSV (*.csv *.txt)")
        dialog.setFileMode(QFileDialog.FileMode.ExistingFile)
        dialog.fileSelected.connect(lambda path: self.import_file(Path(path)))
        dialog.finished.connect(dialog.deleteLater)
        dialog.open()
        return dialog

    @async_slot(button="import_button")
    async def import_file(self, path: Path) -> None:
        """Import ``path``; say how many were added and which lines were refused."""
        store = self.store

        def work() -> suppression.ImportResult:
            try:
                text = path.read_text(encoding="utf-8-sig")
            except (OSError, UnicodeDecodeError) as error:
                raise UserError(
                    "suppression.import_file",
                    f"Could not read {path.name}.",
                    f"Choose a CSV file saved as UTF-8 text ({error.__class__.__name__}).",
                ) from None
            return suppression.import_csv(store, text, by=BY)

        result = await run_blocking(work)
        said = f"Imported {result.added:,}; {result.already:,} were already on the list."
        self.action_status.setText(said)
        if not (result.added or result.already or result.problems):
            self.banner.show_message(
                "warning",
                f"{path.name} holds no addresses.",
                "Write one address per line, optionally with a reason and a note: "
                "address,reason,note.",
            )
        if result.problems:
            lines = "; ".join(f"line {n}: {why}" for n, why in result.problems[:5])
            more = f" and {len(result.problems) - 5} more" if len(result.problems) > 5 else ""
            self.banner.show_message(
                "warning",
                f"{len(result.problems)} line(s) of {path.name} were not imported.",
                f"{lines}{more}",
            )
        await self.refresh()

    def ask_export(self) -> QFileDialog:
        """Ask where to save the whole list as CSV (a non-blocking dialog)."""
        start = Path.home() / f"postdesk-suppressions-{dt.date.today():%Y%m%d}.csv"
        dialog = QFileDialog(self, "Export the suppression list", str(start), "CSV (*.csv)")
        dialog.setAcceptMode(QFileDialog.AcceptMode.AcceptSave)
        dialog.setDefaultSuffix("csv")
        dialog.fileSelected.connect(lambda path: self.export_file(Path(path)))
        dialog.finished.connect(dialog.deleteLater)
        dialog.open()
        return dialog

    @async_slot(button="export_button")
    async def export_file(self, path: Path) -> None:
        """Write the whole list to ``path`` (what Import reads back)."""
        store = self.store
        try:
            await run_blocking(
                lambda: path.write_text(suppression.export_csv(store), encoding="utf-8")
            )
        except OSError as error:
            self.action_status.setText(f"Could not save {path.name}: {error.strerror}.")
            return
        self.action_status.setText(f"The list was saved to {path.name}.")


def _domain_names(store: Store) -> list[str]:
    from postdesk.core import domains

    return [d.name for d in domains.list_domains(store)]
