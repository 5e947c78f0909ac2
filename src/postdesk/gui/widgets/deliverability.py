"""Deliverability numbers: per domain and per SMTP user over the last 1, 7 or 30 days.

Rates past the workspace's alert thresholds are shown in the warning colours, so a domain in
trouble stands out before the banner says so.
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QFont
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QHeaderView,
    QSizePolicy,
    QTableWidget,
    QTableWidgetItem,
    QWidget,
)

from postdesk.core import deliverability
from postdesk.core.deliverability import Numbers, Report
from postdesk.core.store import Store
from postdesk.gui.asyncutil import run_blocking
from postdesk.gui.qtutils import SPACE_S, hbox, label, muted, vbox
from postdesk.gui.widgets.stats_panel import heading

COLUMNS = (
    "Domain / SMTP user",
    "Sent",
    "Delivered",
    "Hard bounces",
    "Soft bounces",
    "Bounce rate",
    "Complaints",
    "Opens",
    "Clicks",
)
BOUNCE_RATE_COLUMN = COLUMNS.index("Bounce rate")
COMPLAINT_COLUMN = COLUMNS.index("Complaints")
PERIODS = (("Last 24 hours", 1), ("Last 7 days", 7), ("Last 30 days", 30))
WARNING_COLOURS = ("#fdecea", "#5f1a12")
NAME_INDENT = "    "
# Mail no SMTP user sent: test sends, replies, forwarded copies, sender confirmation codes.
NO_SMTP_USER = "(sent by Postdesk)"
NO_SMTP_USER_TIP = (
    "Mail Postdesk sent itself, not an SMTP user: test sends, replies from Conversations, "
    "forwarded copies and sender confirmation codes."
)


def cells(name: str, n: Numbers) -> list[str]:
    """One row of the table, as shown."""
    percent = deliverability.percent
    return [
        name,
        f"{n.sent:,}",
        f"{n.delivered:,}",
        f"{n.hard_bounced:,}",
        f"{n.soft_bounced:,}",
        percent(n.bounce_rate),
        percent(n.complaint_rate),
        percent(n.open_rate),
        percent(n.click_rate),
    ]


class DeliverabilityPanel(QWidget):
    """A period chooser and one table: each domain's totals, then its SMTP users."""

    def __init__(self, parent: QWidget | None = None, *, title: str = "Deliverability") -> None:
        super().__init__(parent)
        self.store: Store | None = None
        self.domain: str | None = None
        self.report: Report | None = None
        self.limits: deliverability.Thresholds | None = None
        self.period_combo = QComboBox()
        for words, days in PERIODS:
            self.period_combo.addItem(words, days)
        self.period_combo.setCurrentIndex(1)
        self.period_combo.currentIndexChanged.connect(self._period_changed)
        self.note = muted(
            label(
                "Per recipient of the mail accepted in the period; opens and clicks per message "
                "(tracking must be on)."
            )
        )
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        self.table.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.table.setShowGrid(False)
        self.table.verticalHeader().hide()
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        top = hbox(heading(title), spacing=SPACE_S)
        top.addStretch(1)
        top.addWidget(self.period_combo)
        self._top = top
        self.setLayout(vbox(top, self.note, self.table, spacing=SPACE_S))
        self._fit_height()
        # As tall as its rows: the room left over belongs to whatever sits above it.
        self.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Maximum)

    def add_header_widget(self, widget: QWidget) -> None:
        """Put ``widget`` (a button to the messages behind the numbers) beside the period."""
        self._top.insertWidget(self._top.count() - 1, widget)

    @property
    def days(self) -> int:
        return int(self.period_combo.currentData())

    def _period_changed(self) -> None:
        if self.store is not None:
            from postdesk.gui.asyncutil import start_task

            start_task(self.load(self.store, self.domain))

    async def load(self, store: Store, domain: str | None = None) -> None:
        """Read the numbers (all domains, or one) off the GUI thread and show them."""
        self.store, self.domain = store, domain
        days = self.days

        def read() -> tuple[Report, deliverability.Thresholds]:
            with store.session() as s:
                limits = deliverability.thresholds(s)
            return deliverability.report(store, days, domain=domain), limits

        report, limits = await run_blocking(read)
        if days == self.days:  # the period was not changed meanwhile
            self.show_report(report, limits)

    def show_report(self, report: Report, limits: deliverability.Thresholds) -> None:
        """Fill the table: a bold row per domain, its SMTP users under it."""
        self.report, self.limits = report, limits
        rows: list[tuple[list[str], Numbers, bool]] = []
        for domain in report.domains:
            rows.append((cells(domain.domain, domain.total), domain.total, True))
            for user in domain.users:
                name = user.login or NO_SMTP_USER
                if user.deleted:
                    name += " (deleted)"
                rows.append((cells(NAME_INDENT + name, user.numbers), user.numbers, False))
        self.table.setRowCount(len(rows))
        for index, (texts, numbers, bold) in enumerate(rows):
            for column, text in enumerate(texts):
                item = QTableWidgetItem(text)
                if column:
                    item.setTextAlignment(
                        Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter
                    )
                if bold:
                    font = QFont(item.font())
                    font.setBold(True)
                    item.setFont(font)
                self.table.setItem(index, column, item)
            if texts[0].strip().startswith(NO_SMTP_USER):
                self.table.item(index, 0).setToolTip(NO_SMTP_USER_TIP)
            self._mark(index, numbers, limits)
        self.table.resizeRowsToContents()
        self._fit_height()

    def _fit_height(self) -> None:
        # As tall as the rows (no scrolling inside a page that scrolls), the header alone at first.
        header = self.table.horizontalHeader().sizeHint().height()
        rows = sum(self.table.rowHeight(r) for r in range(self.table.rowCount()))
        self.table.setFixedHeight(header + rows + 2 * self.table.frameWidth())

    def _mark(self, row: int, n: Numbers, limits: deliverability.Thresholds) -> None:
        over = (
            (BOUNCE_RATE_COLUMN, n.bounce_rate > limits.bounce_rate),
            (COMPLAINT_COLUMN, n.complaint_rate > limits.complaint_rate),
        )
        for column, past in over:
            item = self.table.item(row, column)
            if past and item is not None and n.sent:
                item.setBackground(QColor(WARNING_COLOURS[0]))
                item.setForeground(QColor(WARNING_COLOURS[1]))
                item.setToolTip("Past the alert threshold set in Settings")

    def row_texts(self) -> list[list[str]]:
        """What the table shows, row by row (for tests and copy)."""
        return [
            [self.table.item(r, c).text() for c in range(len(COLUMNS))]
            for r in range(self.table.rowCount())
        ]
