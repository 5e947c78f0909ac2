"""Account usage for the SMTP Service tab: today's count against the limit, and the daily chart."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QButtonGroup, QPushButton, QWidget

from postdesk.core import usageday as usage  # not core.usage: that loads the ORM
from postdesk.core.usageday import reset_phrase
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
from postdesk.gui.widgets.usage_chart import UsageChart

if TYPE_CHECKING:
    from PySide6.QtWidgets import QFileDialog

    from postdesk.core.store import Store

RANGES = (7, 30, 90)
DEFAULT_RANGE = 30
BADGE_RADIUS = 9
BADGE_PADDING = f"{SPACE_XS // 2}px {SPACE_S}px"
ERROR_COLOUR = "#c0392b"

# Badge text, then fixed colours with dark text (readable in light and dark themes).
BADGES: dict[str, tuple[str, str, str]] = {
    "normal": ("Well under the limit", "#e3f4e6", "#1d4d27"),
    "warning": ("Over 80 % used", "#fff4dc", "#4a3300"),
    "critical": ("Over 95 % used", "#ffe2c2", "#4a2500"),
    "limit": ("Limit reached", "#fdecea", "#5f1a12"),
    "exceeded": ("Limit exceeded", "#f8d3ce", "#5f1a12"),
}


def level_note(today: usage.Today) -> str:
    """One sentence under the count: what is left and what happens past the limit."""
    rule = "Past the limit, all SMTP credentials of your dedicated domains are deleted."
    if today.level == "exceeded":
        return (
            "Sending went past today's limit. Your email history and statistics are kept; "
            "create new SMTP users in SMTP Settings once the count resets."
        )
    if today.level == "limit":
        return "No emails left today. One more deletes all SMTP credentials of your domains."
    if today.level == "normal":
        return f"{today.remaining:,} emails left today. Each recipient counts as one email."
    return f"Only {today.remaining:,} emails left today. {rule}"


class UsagePanel(QWidget):
    """ "Today: 1,234 / 1,500", a level badge, a 7/30/90-day chart and Export CSV…."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.store: Store | None = None
        self.today: usage.Today | None = None
        self.days = DEFAULT_RANGE
        self.today_label = label("Today: no figures yet", wrap=False)
        self.today_label.setFont(scaled_font(self.today_label, HEADING_FONT_SCALE))
        self.today_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.badge = label(wrap=False)
        self.badge.hide()
        self.note_label = muted(label())
        self.range_group = QButtonGroup(self)
        self.range_buttons: dict[int, QPushButton] = {}
        for days in RANGES:
            button = QPushButton(f"{days} days")
            button.setCheckable(True)
            button.setChecked(days == self.days)
            button.setAccessibleName(f"Show the last {days} days")
            self.range_group.addButton(button, days)
            self.range_buttons[days] = button
        self.range_group.idClicked.connect(self.show_range)
        self.export_button = QPushButton("Export CSV…")
        self.export_button.setToolTip("Save the daily counts shown in the chart as a CSV file")
        self.export_button.clicked.connect(self.export_csv)
        self.export_button.setEnabled(False)
        self.export_status = label()
        self.export_status.hide()
        self.chart = UsageChart()
        self._dialog: QFileDialog | None = None

        header = hbox(spacing=SPACE_M)
        header.addWidget(self.today_label, 0, Qt.AlignmentFlag.AlignVCenter)
        header.addWidget(self.badge, 0, Qt.AlignmentFlag.AlignVCenter)
        header.addStretch(1)
        controls = hbox(*self.range_buttons.values(), spacing=SPACE_XS)
        controls.addStretch(1)
        controls.addWidget(self.export_button)
        self.setLayout(
            vbox(
                header,
                self.note_label,
                controls,
                self.chart,
                self.export_status,
                spacing=SPACE_S,
            )
        )

    async def refresh(self, store: Store) -> None:
        """Read today's count and the chosen range of days from the workspace."""
        from postdesk.core import usage as reads

        self.store = store
        today = reads.today(store)
        self.show_data(today, reads.daily_series(store, self.days, end=today.date))

    def show_data(self, today: usage.Today, series: list[tuple[dt.date, int]]) -> None:
        """Show these figures (used by :meth:`refresh`, and directly without a workspace)."""
        self.days = len(series)
        self.range_buttons.get(self.days, self.range_buttons[DEFAULT_RANGE]).setChecked(True)
        self.show_today(today, series)

    def show_today(
        self, today: usage.Today, series: list[tuple[dt.date, int]] | None = None
    ) -> None:
        """Update the count, the badge and today's bar (the usage watch calls this live)."""
        self.today = today
        if series is None:
            series = list(self.chart.series)
            if series and series[-1][0] == today.date:
                series[-1] = (today.date, today.sent)
        self.today_label.setText(
            f"Today: {today.sent:,} / {today.limit:,} — resets at {reset_phrase()}"
        )
        text, background, colour = BADGES[today.level]
        self.badge.setText(text)
        self.badge.setStyleSheet(
            f"background: {background}; color: {colour}; border-radius: {BADGE_RADIUS}px;"
            f" padding: {BADGE_PADDING};"
        )
        self.badge.setAccessibleName(f"Usage level: {text}")
        self.badge.show()
        self.note_label.setText(level_note(today))
        if series:  # before the first refresh there are no days to draw yet
            self.chart.set_series(series, today.limit)
        self.export_button.setEnabled(bool(self.chart.series))

    def show_range(self, days: int) -> None:
        """Switch the chart to the last ``days`` days."""
        self.days = days
        if self.store is not None:
            from postdesk.gui.asyncutil import start_task

            start_task(self.refresh(self.store))

    def export_csv(self) -> QFileDialog:
        """Ask where to save the days shown (a window opened with open(), never exec())."""
        from PySide6.QtCore import QStandardPaths
        from PySide6.QtWidgets import QFileDialog  # its enums are built on first use: not at start

        series = self.chart.series
        dialog = QFileDialog(self, "Export daily usage")
        dialog.setAcceptMode(QFileDialog.AcceptMode.AcceptSave)
        dialog.setNameFilter("CSV files (*.csv)")
        dialog.setDefaultSuffix("csv")
        folder = QStandardPaths.writableLocation(QStandardPaths.StandardLocation.DocumentsLocation)
        dialog.setDirectory(folder or str(Path.home()))
        if series:
            dialog.selectFile(f"postdesk-usage-{series[0][0]}-to-{series[-1][0]}.csv")
        dialog.fileSelected.connect(self.save_csv)
        self._dialog = dialog
        dialog.open()
        return dialog

    def save_csv(self, path: str) -> None:
        """Write the days shown in the chart to ``path`` and say how it went."""
        series = self.chart.series
        try:
            Path(path).write_text(usage.series_csv(series), encoding="utf-8")
        except OSError as error:
            self._export_result(
                f"Could not save {Path(path).name}: {error.strerror or error}. "
                "Choose another folder and try again.",
                failed=True,
            )
            return
        self._export_result(f"Saved {len(series)} days to {path}.", failed=False)

    def _export_result(self, text: str, *, failed: bool) -> None:
        self.export_status.setText(text)
        self.export_status.setStyleSheet(f"color: {ERROR_COLOUR};" if failed else "")
        if not failed:
            muted(self.export_status)
        self.export_status.show()
