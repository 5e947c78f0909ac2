"""The usage chart, the usage panel (today's count, ranges, CSV export) and the usage watch."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import QPointF, Qt
from PySide6.QtWidgets import QApplication, QFileDialog, QSystemTrayIcon

from postdesk.core import usage
from postdesk.core.store import Store
from postdesk.core.store.models import DailyUsage, SmtpService, SmtpUser
from postdesk.gui.mainwindow import MainWindow
from postdesk.gui.usagewatch import DesktopNotifier, UsageWatch
from postdesk.gui.widgets.usage_chart import BAND_COLOURS, UsageChart
from postdesk.gui.widgets.usage_panel import UsagePanel
from support.qtloop import dialogs_of, run_on_qt_loop, wait_for
from support.workspace import add_verified_domain

LIMIT = 1500
END = dt.date(2025, 3, 12)  # a Wednesday


def week(*counts: int) -> list[tuple[dt.date, int]]:
    return [(END - dt.timedelta(days=len(counts) - 1 - i), n) for i, n in enumerate(counts)]


@pytest.fixture
def chart(qtbot: Any) -> UsageChart:
    widget = UsageChart()
    qtbot.addWidget(widget)
    widget.resize(800, 400)
    widget.show()
    return widget


@pytest.fixture
def panel(qtbot: Any) -> UsagePanel:
    widget = UsagePanel()
    qtbot.addWidget(widget)
    widget.resize(900, 500)
    widget.show()
    return widget


def values(chart: UsageChart, band: str) -> list[int]:
    bar_set = chart.bar_sets[band]  # type: ignore[index]
    return [int(bar_set.at(i)) for i in range(bar_set.count())]


def test_bars_are_coloured_by_how_close_each_day_came_to_the_limit(chart: UsageChart) -> None:
    chart.set_series(week(0, 600, 1199, 1200, 1500, 1501, 1430), LIMIT)

    assert chart.stack.currentWidget() is chart.view
    assert values(chart, "normal") == [0, 600, 1199, 0, 0, 0, 0]
    assert values(chart, "warning") == [0, 0, 0, 1200, 1500, 0, 1430]
    assert values(chart, "over") == [0, 0, 0, 0, 0, 1501, 0]
    for band, colour in BAND_COLOURS.items():
        assert chart.bar_sets[band].color().name() == colour  # type: ignore[index]
    line = chart.limit_line.points()
    assert [p.y() for p in line] == [LIMIT, LIMIT]
    assert line[0].x() < 0 and line[-1].x() > 6, "the limit line spans every bar"
    assert chart.y_axis.max() > 1501, "the highest bar fits under the top of the chart"
    assert chart.limit_line.name() == "Daily limit (1,500)"
    assert "Today" in chart.x_axis.categoriesLabels()


def test_hovering_a_bar_shows_its_date_and_exact_count(qtbot: Any, chart: UsageChart) -> None:
    chart.set_series(week(300, 1430, 20), LIMIT)
    qtbot.waitExposed(chart)
    view = chart.view
    assert view is not None
    centre = chart.chart.mapToPosition(QPointF(1, 700), chart.bars)
    point = view.mapFromScene(centre)

    with qtbot.waitSignal(chart.bar_hovered) as hovered:
        qtbot.mouseMove(view.viewport(), point)

    assert hovered.args == ["Tuesday 11 March 2025\n1,430 emails sent (95% of the 1,500 limit)"]
    assert view.toolTip() == hovered.args[0]


def test_a_range_without_mail_shows_an_empty_state(chart: UsageChart) -> None:
    chart.set_series([(END - dt.timedelta(days=i), 0) for i in range(30)][::-1], LIMIT)
    assert chart.stack.currentWidget() is chart.empty_state
    assert chart.empty_state.heading_label.text() == "No emails sent in the last 30 days"

    chart.set_series(week(0, 0, 0, 0, 0, 0, 1), LIMIT)  # the first email of the week arrives
    assert chart.stack.currentWidget() is chart.view
    assert values(chart, "normal")[-1] == 1


def test_panel_shows_today_against_the_limit_and_when_it_resets(
    panel: UsagePanel, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TZ", "Europe/Paris")
    time.tzset()
    try:
        panel.show_data(usage.Today(END, 1234, LIMIT), week(900, 1100, 1234))
        local = usage.next_reset().astimezone().strftime("%H:%M")
        assert panel.today_label.text() == (
            f"Today: 1,234 / 1,500 — resets at 00:00 UTC ({local} your time)"
        )
    finally:
        monkeypatch.delenv("TZ")
        time.tzset()
    assert panel.badge.text() == "Over 80 % used"
    assert "266 emails left today" in panel.note_label.text()
    assert "deleted" in panel.note_label.text()
    assert panel.range_buttons[7].isChecked() is False  # three days shown: no range matches


def test_today_bar_and_count_follow_new_figures(panel: UsagePanel) -> None:
    panel.show_data(usage.Today(END, 400, LIMIT), week(1, 2, 3, 4, 5, 6, 400))
    panel.show_today(usage.Today(END, 1460, LIMIT))

    assert values(panel.chart, "warning")[-1] == 1460
    assert values(panel.chart, "normal")[-1] == 0
    assert panel.today_label.text().startswith("Today: 1,460 / 1,500")
    assert panel.badge.text() == "Over 95 % used"


def a_service(store: Store) -> int:
    """A service to count test sends against (usage rows point at their sender)."""
    with store.session() as s:
        service = SmtpService(name="SendGrid", host="smtp.sendgrid.net", port=587, security="tls")
        s.add(service)
        s.flush()
        return service.id


def fill_usage(store: Store, days: int, per_day: int) -> None:
    today = usage.utc_day()
    with store.session() as s:
        for i in range(days):
            s.add(DailyUsage(day=today - dt.timedelta(days=i), bucket="service:1", sent=per_day))


def test_range_buttons_load_that_many_days(
    qapp: QApplication, qtbot: Any, panel: UsagePanel, store: Store
) -> None:
    fill_usage(store, 60, 100)
    run_on_qt_loop(qapp, panel.refresh(store))
    assert len(panel.chart.series) == 30
    assert panel.range_buttons[30].isChecked()

    async def choose_90_days() -> None:
        qtbot.mouseClick(panel.range_buttons[90], Qt.MouseButton.LeftButton)
        await wait_for(lambda: len(panel.chart.series) == 90)

    run_on_qt_loop(qapp, choose_90_days())
    assert sum(n for _, n in panel.chart.series) == 6000
    assert panel.range_buttons[90].isChecked()


def test_export_csv_saves_the_days_shown(
    qapp: QApplication, qtbot: Any, panel: UsagePanel, store: Store, tmp_path: Path
) -> None:
    fill_usage(store, 3, 250)
    run_on_qt_loop(qapp, panel.refresh(store))

    async def choose_7_days() -> None:
        qtbot.mouseClick(panel.range_buttons[7], Qt.MouseButton.LeftButton)
        await wait_for(lambda: len(panel.chart.series) == 7)

    run_on_qt_loop(qapp, choose_7_days())

    qtbot.mouseClick(panel.export_button, Qt.MouseButton.LeftButton)
    [dialog] = dialogs_of(QFileDialog)
    assert dialog.acceptMode() == QFileDialog.AcceptMode.AcceptSave
    target = tmp_path / "march.csv"
    dialog.selectFile(str(target))
    dialog.accept()

    lines = target.read_text(encoding="utf-8").splitlines()
    today = usage.utc_day()
    assert lines[0] == "date,sent"
    assert len(lines) == 8
    assert lines[-1] == f"{today.isoformat()},250"
    assert lines[1] == f"{(today - dt.timedelta(days=6)).isoformat()},0"
    assert panel.export_status.text() == f"Saved 7 days to {target}."


def test_export_to_a_folder_that_cannot_be_written_says_so(
    panel: UsagePanel, tmp_path: Path
) -> None:
    panel.show_data(usage.Today(END, 3, LIMIT), week(1, 2, 3))
    panel.save_csv(str(tmp_path / "missing-folder" / "usage.csv"))
    assert panel.export_status.text().startswith("Could not save usage.csv")
    assert "Choose another folder" in panel.export_status.text()


def test_qt_charts_is_loaded_only_when_figures_arrive(tmp_path: Path) -> None:
    script = (
        "import sys, datetime as dt\n"
        "from PySide6.QtWidgets import QApplication\n"
        "app = QApplication([])\n"
        "from postdesk.core.usage import Today\n"
        "from postdesk.gui.widgets.usage_panel import UsagePanel\n"
        "panel = UsagePanel(); panel.show(); app.processEvents()\n"
        "print('before', 'PySide6.QtCharts' in sys.modules)\n"
        "day = dt.date(2025, 3, 12)\n"
        "panel.show_data(Today(day, 5, 1500), [(day, 5)])\n"
        "print('after', 'PySide6.QtCharts' in sys.modules)\n"
    )
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "PYTHONPATH": "src"}
    done = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True
    )
    assert done.stdout.split("\n")[:2] == ["before False", "after True"]


# --- the usage watch ----------------------------------------------------------------------------


def add_smtp_users(store: Store, count: int) -> None:
    add_verified_domain(store, "example.com")
    with store.session() as s:
        from postdesk.core.domains import get_domain

        domain = get_domain(s, "example.com")
        for i in range(count):
            s.add(SmtpUser(domain_id=domain.id, login=f"app{i}", password_hash="x"))


@pytest.fixture
def watch(qtbot: Any, store: Store) -> UsageWatch:
    watcher = UsageWatch(lambda: store)
    return watcher


def poll(qapp: QApplication, watch: UsageWatch) -> list[Any]:
    return run_on_qt_loop(qapp, watch.poll())


def test_watch_warns_once_at_80_and_again_at_95_percent(
    qapp: QApplication, store: Store, watch: UsageWatch
) -> None:
    service = a_service(store)
    usage.record_sent(store, recipients=1199, service_id=service)
    assert poll(qapp, watch) == []

    usage.record_sent(store, recipients=1, service_id=service)  # 1,200: 80 %
    [warning] = poll(qapp, watch)
    assert warning.kind == "warning"
    assert warning.message == "You have sent 1,200 of today's 1,500 emails."
    assert "deleted automatically" in warning.hint

    usage.record_sent(store, recipients=20, service_id=service)
    assert poll(qapp, watch) == [], "the 80 % warning is given once a day"

    usage.record_sent(store, recipients=220, service_id=service)  # 1,440: 96 %
    [critical] = poll(qapp, watch)
    assert critical.kind == "critical"
    assert critical.message == "Only 60 emails left today: 1,440 of 1,500 sent."


def test_watch_explains_the_deletion_in_the_window_banner(
    qapp: QApplication, qtbot: Any, store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    add_smtp_users(store, 3)
    service = a_service(store)
    window = MainWindow()
    qtbot.addWidget(window)
    shown: list[str] = []
    monkeypatch.setattr(QSystemTrayIcon, "isSystemTrayAvailable", staticmethod(lambda: True))
    monkeypatch.setattr(
        QSystemTrayIcon, "showMessage", lambda _self, _title, text, *_args: shown.append(text)
    )
    run_on_qt_loop(qapp, window.attach_store(store))
    watch = window.context.usage_watch
    assert watch is not None
    assert run_on_qt_loop(qapp, watch.poll()) == []
    assert not window.banner.isVisible(), "nothing sent yet, nothing to say"

    usage.record_sent(store, recipients=1500, service_id=service)
    run_on_qt_loop(qapp, watch.poll())
    assert window.banner.level == "warning"
    assert window.banner.message_label.text().startswith("Today's limit is reached")

    result = usage.record_sent(store, recipients=1, service_id=service)
    assert result.enforced is not None
    run_on_qt_loop(qapp, watch.poll())

    assert window.banner.level == "error"
    assert window.banner.message_label.text() == (
        "Daily limit exceeded: 1,501 emails were sent today, so all 3 SMTP credentials of your "
        "dedicated domains were deleted automatically."
    )
    hint = window.banner.hint_label.text()
    assert "history and statistics are kept" in hint
    assert "Create new SMTP users in SMTP Settings after 00:00 UTC" in hint
    assert window.banner.action_button.text() == "Open SMTP Settings"
    window.banner.action_button.click()
    assert window.tabs.tabText(window.tabs.currentIndex()) == "SMTP Settings"
    assert len(shown) == 2 and shown[-1].startswith("Daily limit exceeded: 1,501")

    assert run_on_qt_loop(qapp, watch.poll()) == [], "the deletion is reported once"
    watch.stop()


def test_no_desktop_notification_without_a_system_tray(
    qtbot: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from postdesk.core.usagewatch import UsageAlert

    monkeypatch.setattr(QSystemTrayIcon, "isSystemTrayAvailable", staticmethod(lambda: False))
    notifier = DesktopNotifier()
    alert = UsageAlert("warning", "warning", "m", "h", "k")
    assert notifier.notify(alert) is False
    assert notifier.tray is None
