"""Emails sent per day as bars against the daily limit.

Qt Charts is a large library, so it is imported only when the first figures arrive (after the
window's first paint), never when this module is imported.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Literal

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QColor, QCursor, QPainter, QPalette, QPen
from PySide6.QtWidgets import QStackedWidget, QToolTip, QVBoxLayout, QWidget

from postdesk.core.usageday import level_for
from postdesk.gui.widgets.emptystate import EmptyState

if TYPE_CHECKING:
    from PySide6.QtCharts import QBarSet, QChartView

Band = Literal["normal", "warning", "over"]
BANDS: tuple[Band, ...] = ("normal", "warning", "over")
BAND_NAMES: dict[Band, str] = {
    "normal": "Under 80 % of the limit",
    "warning": "80–100 % of the limit",
    "over": "Over the limit",
}
# Readable on light and dark backgrounds; amber and red match the banner's warning and error.
BAND_COLOURS: dict[Band, str] = {"normal": "#3b7dd8", "warning": "#e0a100", "over": "#d0453b"}
LIMIT_LINE_COLOUR = "#a3271b"
LIMIT_LINE_WIDTH = 2
BAR_WIDTH = 0.8
# Room above the taller of the limit and the highest bar, so neither touches the top.
HEADROOM = 1.1
MIN_CHART_HEIGHT = 220
# Roughly how many date labels fit under the bars without crowding.
MAX_DATE_LABELS = 8


def band_for(sent: int, limit: int) -> Band:
    """Which colour a day's bar gets: under 80 %, 80–100 % (amber) or over the limit (red)."""
    level = level_for(sent, limit)
    if level == "exceeded":
        return "over"
    return "normal" if level == "normal" else "warning"


def date_label(day: dt.date, today: dt.date, span: int) -> str:
    """A short label under a bar: the weekday for a week, the day and month for longer ranges."""
    if day == today:
        return "Today"
    if span <= 7:
        return f"{day.strftime('%a')} {day.day}"
    return f"{day.day} {day.strftime('%b')}"


def tooltip_text(day: dt.date, sent: int, limit: int) -> str:
    """What hovering a bar shows: the date and the exact count, with its share of the limit."""
    share = f"{sent / limit:.0%} of the {limit:,} limit" if limit else ""
    noun = "email" if sent == 1 else "emails"
    when = f"{day.strftime('%A')} {day.day} {day.strftime('%B %Y')}"
    return f"{when}\n{sent:,} {noun} sent" + (f" ({share})" if share else "")


class UsageChart(QWidget):
    """Daily bars coloured by how close each day came to the limit, with the limit as a line."""

    #: The text of the bar under the mouse (empty when the mouse leaves it).
    bar_hovered = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.series: list[tuple[dt.date, int]] = []
        self.limit = 0
        self.hover_text = ""
        self.view: QChartView | None = None
        self.bar_sets: dict[Band, QBarSet] = {}
        self._charts: Any = None  # the PySide6.QtCharts module, once loaded
        self.empty_state = EmptyState(
            "icons/empty-service.png",
            self.empty_heading(30),
            "Each email your apps send through Postdesk is counted here, day by day.",
        )
        self.stack = QStackedWidget()
        self.stack.addWidget(self.empty_state)
        self.stack.setMinimumHeight(MIN_CHART_HEIGHT)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.stack)

    @staticmethod
    def empty_heading(days: int) -> str:
        return f"No emails sent in the last {days} days"

    @property
    def is_empty(self) -> bool:
        return not any(sent for _, sent in self.series)

    def set_series(self, series: Sequence[tuple[dt.date, int]], limit: int) -> None:
        """Show these days (oldest first); call again with new figures to update the bars live."""
        self.series, self.limit = list(series), limit
        self.empty_state.heading_label.setText(self.empty_heading(len(self.series)))
        if self.is_empty:
            self.stack.setCurrentWidget(self.empty_state)
            return
        if self.view is None:
            self._build()
        assert self.view is not None
        self._fill()
        self.stack.setCurrentWidget(self.view)

    def tooltip_for(self, index: int) -> str:
        day, sent = self.series[index]
        return tooltip_text(day, sent, self.limit)

    # --- building the chart (Qt Charts is loaded here, on first use) ---------------------------

    def _build(self) -> None:
        from PySide6 import QtCharts

        self._charts = QtCharts
        chart = QtCharts.QChart()
        if self.palette().color(QPalette.ColorRole.Window).lightness() < 128:
            chart.setTheme(QtCharts.QChart.ChartTheme.ChartThemeDark)
        chart.setBackgroundVisible(False)
        chart.legend().setAlignment(Qt.AlignmentFlag.AlignBottom)
        bars = QtCharts.QStackedBarSeries()
        bars.setBarWidth(BAR_WIDTH)
        for band in BANDS:
            bar_set = QtCharts.QBarSet(BAND_NAMES[band])
            colour = QColor(BAND_COLOURS[band])
            bar_set.setColor(colour)
            bar_set.setBorderColor(colour)
            bar_set.hovered.connect(self._hovered)
            bars.append(bar_set)
            self.bar_sets[band] = bar_set
        self.limit_line = QtCharts.QLineSeries()
        pen = QPen(QColor(LIMIT_LINE_COLOUR))
        pen.setStyle(Qt.PenStyle.DashLine)
        pen.setWidth(LIMIT_LINE_WIDTH)
        self.limit_line.setPen(pen)
        chart.addSeries(bars)
        chart.addSeries(self.limit_line)
        self.x_axis = QtCharts.QCategoryAxis()
        self.x_axis.setLabelsPosition(
            QtCharts.QCategoryAxis.AxisLabelsPosition.AxisLabelsPositionOnValue
        )
        self.x_axis.setGridLineVisible(False)
        self.y_axis = QtCharts.QValueAxis()
        self.y_axis.setLabelFormat("%d")
        chart.addAxis(self.x_axis, Qt.AlignmentFlag.AlignBottom)
        chart.addAxis(self.y_axis, Qt.AlignmentFlag.AlignLeft)
        for series in (bars, self.limit_line):
            series.attachAxis(self.x_axis)
            series.attachAxis(self.y_axis)
        self.bars = bars
        self.chart = chart
        self.view = QtCharts.QChartView(chart)
        self.view.setRenderHint(QPainter.RenderHint.Antialiasing)
        self.view.setAccessibleName("Emails sent per day")
        self.stack.addWidget(self.view)

    def _fill(self) -> None:
        values: dict[Band, list[float]] = {band: [] for band in BANDS}
        for _, sent in self.series:
            # One bar per day: the day's count goes in its band's set, zero in the others.
            band = band_for(sent, self.limit)
            for name in BANDS:
                values[name].append(float(sent) if name == band else 0.0)
        for band, bar_set in self.bar_sets.items():
            if bar_set.count():
                bar_set.remove(0, bar_set.count())
            bar_set.append(values[band])
        count = len(self.series)
        self.limit_line.clear()
        self.limit_line.append(-0.5, self.limit)
        self.limit_line.append(count - 0.5, self.limit)
        self.limit_line.setName(f"Daily limit ({self.limit:,})")
        self._label_dates()
        highest = max([self.limit, *(sent for _, sent in self.series)])
        self.y_axis.setRange(0, highest * HEADROOM)
        self.y_axis.applyNiceNumbers()
        self.view.setAccessibleDescription(
            f"{sum(n for _, n in self.series):,} emails in the last {count} days"
        )

    def _label_dates(self) -> None:
        for name in self.x_axis.categoriesLabels():
            self.x_axis.remove(name)
        count = len(self.series)
        self.x_axis.setStartValue(-0.5)
        self.x_axis.setRange(-0.5, count - 0.5)
        step = max(1, -(-count // MAX_DATE_LABELS))
        today = self.series[-1][0]
        # Count back from the newest day so "Today" always has a label.
        for index in sorted(range(count - 1, -1, -step)):
            self.x_axis.append(date_label(self.series[index][0], today, count), index)

    def _hovered(self, status: bool, index: int) -> None:
        self.hover_text = self.tooltip_for(index) if status else ""
        if self.view is not None:
            self.view.setToolTip(self.hover_text)
        if status:
            QToolTip.showText(QCursor.pos(), self.hover_text, self.view)
        else:
            QToolTip.hideText()
        self.bar_hovered.emit(self.hover_text)
