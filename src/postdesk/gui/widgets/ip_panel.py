"""Dedicated IPs: the list (with Add IP) and one IP's check — reverse DNS, SPF, blocklists."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QFont, QGuiApplication
from PySide6.QtWidgets import (
    QAbstractItemView,
    QAbstractScrollArea,
    QHeaderView,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QWidget,
)

from postdesk.core import ips
from postdesk.core.domainview import checked_ago, ip_report_text, problems_from
from postdesk.core.validation import display_domain
from postdesk.core.views import IpView
from postdesk.gui.confirm import confirm_destructive
from postdesk.gui.qtutils import (
    HEADING_FONT_SCALE,
    SPACE_M,
    SPACE_S,
    SPACE_XS,
    hbox,
    label,
    muted,
    scaled_font,
    vbox,
)
from postdesk.gui.widgets.problem_list import ProblemList
from postdesk.gui.widgets.status_badge import State, StatusBadge

if TYPE_CHECKING:
    from postdesk.core.store import Store
    from postdesk.gui.widgets.banner import Banner

IP_STATES: dict[str | None, tuple[State, str]] = {
    "ok": ("ok", "OK"),
    "failing": ("failed", "Problems"),
    None: ("untested", "Not checked"),
}
SPF_WORDS = {
    "pass": "Allowed",
    "fail": "Not allowed",
    "softfail": "Not allowed (soft fail)",
    "neutral": "Not listed in SPF",
    "none": "No SPF record",
    "permerror": "SPF record is broken",
    "unknown": "Could not check",
}
NOT_QUERIED = "This list could not be queried from here"
LIST_WORDS = {
    "listed": "Listed",
    "clear": "Not listed",
    "unusable": NOT_QUERIED,
    "error": NOT_QUERIED,
}
REMOVE_EXPLANATION = "Postdesk stops checking it. Nothing changes at your provider or in DNS."


def soft_selection(widget: QListWidget) -> None:
    """A pale highlight for the chosen row, so its labels and pills stay readable."""
    widget.setStyleSheet(
        "QListWidget::item:selected { background: rgba(60, 130, 220, 45); }"
        " QListWidget::item:hover:!selected { background: rgba(60, 130, 220, 18); }"
    )


def heading(text: str = "") -> QWidget:
    widget = label(text, wrap=False)
    widget.setFont(scaled_font(widget, HEADING_FONT_SCALE))
    return widget


def small_table(columns: Sequence[str], name: str) -> QTableWidget:
    """A read-only table exactly as tall as its rows."""
    table = QTableWidget(0, len(columns))
    table.setHorizontalHeaderLabels(columns)
    table.setAccessibleName(name)
    table.verticalHeader().hide()
    table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
    table.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
    table.setFocusPolicy(Qt.FocusPolicy.NoFocus)
    table.setShowGrid(False)
    table.setWordWrap(False)
    table.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
    table.setSizeAdjustPolicy(QAbstractScrollArea.SizeAdjustPolicy.AdjustToContents)
    header = table.horizontalHeader()
    header.setDefaultAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter)
    header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
    header.setStretchLastSection(True)
    return table


def fill_table(table: QTableWidget, rows: Sequence[Sequence[str]]) -> None:
    table.setRowCount(len(rows))
    for row, cells in enumerate(rows):
        for column, text in enumerate(cells):
            item = QTableWidgetItem(text)
            item.setToolTip(text)
            table.setItem(row, column, item)
    table.updateGeometry()


class IpRow(QWidget):
    """One IP in the list: address, label, last result and when it was checked."""

    def __init__(self, ip: IpView, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.address = ip.address
        self.address_label = label(ip.address, wrap=False)
        bold = QFont(self.address_label.font())
        bold.setWeight(QFont.Weight.DemiBold)
        self.address_label.setFont(bold)
        self.badge = StatusBadge()
        self.badge.set_state(*IP_STATES.get(ip.last_status, IP_STATES[None]))
        self.label_label = muted(label(ip.label, wrap=False))
        self.label_label.setVisible(bool(ip.label))
        self.checked_label = muted(label(checked_ago(ip.last_checked_at), wrap=False))
        top = hbox(self.address_label, spacing=SPACE_S)
        top.addStretch(1)
        top.addWidget(self.badge)
        self.setLayout(
            vbox(top, self.label_label, self.checked_label, margin=SPACE_S, spacing=SPACE_XS)
        )


class IpList(QWidget):
    """The dedicated IPs and an Add IP button; ``selected`` says which one the user picked."""

    selected = Signal(str)
    add_requested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.rows: dict[str, IpRow] = {}
        self.list = QListWidget()
        self.list.setAccessibleName("Dedicated IPs")
        soft_selection(self.list)
        self.list.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.list.setSizeAdjustPolicy(QAbstractScrollArea.SizeAdjustPolicy.AdjustToContents)
        self.list.currentItemChanged.connect(self._picked)
        self.empty_label = muted(label("No dedicated IPs. Add one if your provider gave you one."))
        self.add_button = QPushButton("Add IP")
        self.add_button.clicked.connect(self.add_requested)
        buttons = hbox(self.add_button)
        buttons.addStretch(1)
        title = label("Dedicated IPs", wrap=False)
        title.setFont(scaled_font(title, 1.0))
        self.setLayout(vbox(title, self.list, self.empty_label, buttons, spacing=SPACE_S))

    def show_ips(self, found: Sequence[IpView], current: str | None) -> None:
        """List ``found``; keep ``current`` highlighted when it is still there."""
        self.list.blockSignals(True)
        self.list.clear()
        self.rows = {}
        for ip in found:
            row = IpRow(ip)
            item = QListWidgetItem()
            item.setData(Qt.ItemDataRole.UserRole, ip.address)
            item.setSizeHint(row.sizeHint())
            self.list.addItem(item)
            self.list.setItemWidget(item, row)
            self.rows[ip.address] = row
            if ip.address == current:
                self.list.setCurrentItem(item)
        self.list.blockSignals(False)
        self.list.setVisible(bool(found))
        self.empty_label.setVisible(not found)

    def select(self, address: str) -> None:
        for index in range(self.list.count()):
            item = self.list.item(index)
            if item.data(Qt.ItemDataRole.UserRole) == address:
                self.list.setCurrentItem(item)
                self._picked(item)

    def clear_selection(self) -> None:
        self.list.blockSignals(True)
        self.list.setCurrentItem(None)
        self.list.clearSelection()
        self.list.blockSignals(False)

    def _picked(self, item: QListWidgetItem | None, _previous: object = None) -> None:
        if item is not None:
            self.selected.emit(str(item.data(Qt.ItemDataRole.UserRole)))


class IpPanel(QWidget):
    """One IP: Check (reverse DNS, SPF per domain, blocklists), its problems, Remove."""

    changed = Signal()
    removed = Signal(str)

    def __init__(self, banner: Banner, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.banner = banner
        self.store: Store | None = None
        self.address: str | None = None
        self.report: dict[str, object] | None = None
        self._task: asyncio.Task[None] | None = None

        self.title = heading()
        self.label_text = muted(label(wrap=False))
        self.check_button = QPushButton("Check")
        self.check_button.clicked.connect(self.start_check)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.hide()
        self.cancel_button.clicked.connect(self.cancel_check)
        self.copy_button = QPushButton("Copy report")
        self.copy_button.clicked.connect(self.copy_report)
        self.save_button = QPushButton("Save report…")
        self.save_button.clicked.connect(self.save_report)
        self.remove_button = QPushButton("Remove")
        self.remove_button.clicked.connect(self.confirm_remove)
        self.status_label = muted(label(wrap=False))
        self.status_label.hide()
        top = hbox(vbox(self.title, self.label_text, spacing=SPACE_XS), spacing=SPACE_S)
        top.addStretch(1)
        buttons = (self.check_button, self.cancel_button, self.copy_button, self.save_button)
        for button in (*buttons, self.remove_button):
            top.addWidget(button, 0, Qt.AlignmentFlag.AlignTop)

        self.summary = muted(label())
        self.ptr_label = label(selectable=True)
        self.spf_table = small_table(("Domain", "May this IP send for it?"), "SPF permission")
        self.lists_table = small_table(("Blocklist", "Result", "Details"), "Blocklists")
        self.problems = ProblemList("No problems found.")
        self.results = QWidget()
        self.results.setLayout(
            vbox(
                self._section("Reverse DNS"),
                self.ptr_label,
                self._section("SPF permission"),
                self.spf_table,
                self._section("Blocklists"),
                self.lists_table,
                self._section("What to fix"),
                self.problems,
                spacing=SPACE_S,
            )
        )
        layout = vbox(top, self.status_label, self.summary, self.results, spacing=SPACE_M)
        layout.addStretch(1)
        self.setLayout(layout)

    @staticmethod
    def _section(text: str) -> QWidget:
        widget = label(text, wrap=False)
        bold = QFont(widget.font())
        bold.setWeight(QFont.Weight.DemiBold)
        widget.setFont(bold)
        return widget

    def show_ip(self, ip: IpView) -> None:
        """Show one IP and its last check (if it was ever checked)."""
        if self.address != ip.address:
            self.cancel_check()
        self.address = ip.address
        self.title.setText(ip.address)
        self.label_text.setText(ip.label or "")
        self.label_text.setVisible(bool(ip.label))
        self.report = ip.last_report
        self.copy_button.setText("Copy report")
        self.copy_button.setEnabled(self.report is not None)
        self.save_button.setEnabled(self.report is not None)
        if self.report is None:
            self.summary.setText(
                "Not checked yet. Press Check to look up its reverse DNS, whether your domains' "
                "SPF records allow it, and whether blocklists list it."
            )
            self.results.hide()
            return
        self.summary.setText(checked_ago(ip.last_checked_at).capitalize() + ".")
        self.show_report(self.report)

    def show_report(self, report: Mapping[str, object]) -> None:
        """Fill the sections from a check result (``IpReport.as_dict()``)."""
        ptr: Sequence[str] = report.get("ptr") or []  # type: ignore[assignment]
        if not ptr:
            self.ptr_label.setText("No reverse DNS name (PTR) is set for this address.")
        else:
            back = (
                "Yes — the name points back to this address."
                if report.get("fcrdns")
                else "No — the name does not point back to this address."
            )
            self.ptr_label.setText(f"Name (PTR): {', '.join(ptr)}\nPoints back (FCrDNS): {back}")
        spf: Mapping[str, str] = report.get("spf") or {}  # type: ignore[assignment]
        fill_table(
            self.spf_table, [(display_domain(d), SPF_WORDS.get(v, v)) for d, v in spf.items()]
        )
        self.spf_table.setVisible(bool(spf))
        lists: Sequence[Mapping[str, object]] = report.get("blocklists") or []  # type: ignore[assignment]
        fill_table(self.lists_table, [self._list_row(item) for item in lists])
        self.problems.set_problems(problems_from(report.get("problems") or []))  # type: ignore[arg-type]
        self.results.show()

    @staticmethod
    def _list_row(item: Mapping[str, object]) -> tuple[str, str, str]:
        status = str(item.get("status"))
        reason = str(item.get("reason") or "")
        if status == "listed":
            codes = ", ".join(item.get("codes") or [])  # type: ignore[call-overload]
            reason = " ".join(x for x in (reason, f"(answer {codes})" if codes else "") if x)
        return str(item.get("zone")), LIST_WORDS.get(status, status), reason

    # --- actions ------------------------------------------------------------------------------

    def start_check(self) -> None:
        from postdesk.gui.asyncutil import start_task

        if self.address is not None and self._task is None:
            self._task = start_task(self._check(self.address), banner=self.banner)  # type: ignore[assignment]

    async def _check(self, address: str) -> None:
        store = self.store
        assert store is not None
        self.check_button.setEnabled(False)
        self.cancel_button.show()
        self.status_label.setText(f"Checking {address}: reverse DNS, SPF and blocklists…")
        self.status_label.show()
        try:
            await ips.check_dedicated_ip(store, address)
        except asyncio.CancelledError:
            self.status_label.setText("Check cancelled.")
            raise
        finally:
            self._task = None
            self.check_button.setEnabled(True)
            self.cancel_button.hide()
        self.status_label.clear()
        self.status_label.hide()
        self.changed.emit()

    def cancel_check(self) -> None:
        if self._task is not None:
            self._task.cancel()

    def copy_report(self) -> None:
        if self.report is not None:
            QGuiApplication.clipboard().setText(ip_report_text(self.report))
            self.copy_button.setText("Copied")

    def save_report(self) -> None:
        """Save the last check as one file to hand over (HTML, text or JSON)."""
        from postdesk.core.report import from_ip_dict
        from postdesk.gui.reportsave import ask_and_save

        report, address = self.report, self.address
        if report is not None and address is not None:
            self.status_label.show()
            build = lambda: from_ip_dict(report)  # noqa: E731
            ask_and_save(self, build, address, self.status_label)

    def confirm_remove(self) -> None:
        address = self.address
        if address is None or self.store is None:
            return

        def remove() -> None:
            if self.store is not None:
                ips.remove_ip(self.store, address)
                self.removed.emit(address)

        confirm_destructive(
            self,
            title="Remove IP",
            text=f"Remove {address} from your dedicated IPs?",
            explanation=REMOVE_EXPLANATION,
            action="Remove",
            on_confirm=remove,
        )
