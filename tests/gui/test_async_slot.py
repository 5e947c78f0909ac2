"""One way a slot starts async work: the task is kept, its button waits, failures are shown."""

from __future__ import annotations

import asyncio
from typing import Any

from PySide6.QtWidgets import QApplication, QPushButton, QWidget

from postdesk.core import ips
from postdesk.core.errors import UserError
from postdesk.gui.asyncutil import LatestRead, async_slot, running_tasks
from postdesk.gui.tabs.domains import DomainsPage
from postdesk.gui.widgets.banner import Banner
from support.qtloop import run_on_qt_loop, wait_for


class Panel(QWidget):
    def __init__(self) -> None:
        super().__init__()
        self.banner = Banner()
        self.button = QPushButton("Save")
        self.release = asyncio.Event()
        self.calls: list[tuple[object, ...]] = []
        self.button.clicked.connect(self.save)

    @async_slot(button="button")
    async def save(self) -> None:
        self.calls.append(())
        await self.release.wait()

    @async_slot
    async def refuse(self, what: str) -> None:
        raise UserError("test.refused", f"{what} can't be saved.", "Try another name.")


def test_the_button_waits_while_the_work_runs_and_the_click_flag_is_dropped(
    qapp: QApplication, qtbot: Any
) -> None:
    panel = Panel()
    qtbot.addWidget(panel)

    async def click() -> None:
        panel.button.click()  # clicked(bool) reaches a method that takes no argument
        await wait_for(lambda: panel.calls)
        assert not panel.button.isEnabled(), "a second click cannot start it twice"
        assert running_tasks(), "the task is kept until it ends"
        panel.release.set()
        await wait_for(lambda: panel.button.isEnabled())

    run_on_qt_loop(qapp, click())
    assert panel.calls == [()]


def test_a_user_error_is_shown_in_the_banner(qapp: QApplication, qtbot: Any) -> None:
    panel = Panel()
    qtbot.addWidget(panel)
    panel.show()

    async def refuse() -> None:
        task = panel.refuse("shop")
        await asyncio.gather(task, return_exceptions=True)

    run_on_qt_loop(qapp, refuse())
    assert panel.banner.isVisible()
    assert panel.banner.message_label.text() == "shop can't be saved."


def test_add_ip_refused_by_core_is_explained_in_the_page(
    qapp: QApplication, qtbot: Any, store: Any
) -> None:
    page = DomainsPage()
    qtbot.addWidget(page)
    page.show()
    run_on_qt_loop(qapp, page.attach(store))
    # Added from the command line while the Add IP dialog was open.
    ips.add_ip(store, "203.0.113.25", "")

    async def add() -> None:
        await asyncio.gather(page.add_ip("203.0.113.25", "SendGrid"), return_exceptions=True)

    run_on_qt_loop(qapp, add())
    assert page.banner.isVisible()
    assert page.banner.message_label.text() == "203.0.113.25 is already in the list."


def test_a_filter_changed_while_a_read_runs_is_read_right_after(qapp: QApplication) -> None:
    """Search typed, then a reason picked while the first read runs: the last filters are shown."""
    filters = ["gmail"]
    shown: list[str] = []
    release = asyncio.Event()

    async def read() -> None:
        wanted = filters[-1]
        if len(shown) == 0:
            await release.wait()
        shown.append(wanted)

    async def scenario() -> None:
        reads = LatestRead(read)
        reads()
        await asyncio.sleep(0)
        filters.append("gmail+complaint")
        reads()
        filters.append("gmail+complaint+new")
        reads()  # two requests while one runs: one more read, not two
        assert reads.running
        release.set()
        await wait_for(lambda: not reads.running)

    run_on_qt_loop(qapp, scenario())
    assert shown == ["gmail", "gmail+complaint+new"]
