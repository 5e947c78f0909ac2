"""The relay inside the window: status bar, Start/Stop, a busy port, and the queue window."""

from __future__ import annotations

import asyncio
import socket
from typing import Any

import pytest
from PySide6.QtWidgets import QMessageBox

from postdesk.core import settings
from postdesk.core.relay import RelayOptions, queue
from postdesk.core.store.models import DedicatedDomain, TrackingEvent
from postdesk.gui.asyncutil import start_task
from postdesk.gui.dialogs.queue import QueueDialog
from postdesk.gui.mainwindow import MainWindow
from postdesk.gui.relaycontrol import RelayControl
from support.qtloop import dialogs_of, run_on_qt_loop, wait_for
from support.relay import build_world, close_world, message
from support.services import free_port
from support.workspace import add_verified_domain

BOUNCE = (
    "550 5.1.1 <nobody@client.test>: Recipient address rejected: User unknown in virtual "
    "mailbox table (this line is long on purpose, so only the detail pane shows all of it)"
)


@pytest.fixture
def window(qtbot: Any) -> MainWindow:
    win = MainWindow()
    qtbot.addWidget(win)
    win.show()
    qtbot.waitExposed(win)
    return win


async def start_relay(window: MainWindow, store: Any, options: RelayOptions) -> RelayControl:
    """Open the workspace in the window and start its relay, as Postdesk does at start."""
    window.context.relay_options = options
    await window.attach_store(store)
    control = window.relay_control
    assert control is not None
    start_task(control.start())
    return control


def _use_port(store: Any, port: int) -> None:
    with store.session() as s:
        settings.put(s, "relay_port", port)


def _no_tracking() -> RelayOptions:
    # The tracking endpoint's fixed default port could be taken on a shared test machine.
    return RelayOptions(listen_host="127.0.0.1", tracking_port=None)


def _accepts(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2) as conn:
            return conn.recv(64).startswith(b"220")
    except OSError:
        return False


def test_the_relay_starts_on_the_relay_port_and_stops(
    qapp: Any, window: MainWindow, store: Any, secret_service: str
) -> None:
    port = free_port()
    _use_port(store, port)

    async def scenario() -> None:
        control = await start_relay(window, store, _no_tracking())
        await wait_for(lambda: control.state == "running")
        status = window.relay_status
        assert status is not None and window.relay_control is control
        assert status.status_label.text() == f"Relay: listening on 127.0.0.1:{port} · queue empty"
        assert await asyncio.to_thread(_accepts, port)

        assert status.toggle_button.text() == "Stop"
        status.toggle_button.click()
        await wait_for(lambda: control.state == "stopped")
        assert status.status_label.text() == "Relay stopped"
        assert status.toggle_button.text() == "Start"
        assert not await asyncio.to_thread(_accepts, port)

    run_on_qt_loop(qapp, scenario())


def test_a_busy_port_is_explained_and_start_works_once_it_is_free(
    qapp: Any, window: MainWindow, store: Any, secret_service: str
) -> None:
    port = free_port()
    _use_port(store, port)
    other = socket.socket()
    other.bind(("127.0.0.1", port))
    other.listen()

    async def scenario() -> None:
        control = await start_relay(window, store, _no_tracking())
        await wait_for(lambda: control.state == "failed")
        status = window.relay_status
        assert status is not None
        assert status.status_label.text() == f"Relay could not start: port {port} is in use"
        assert "another Postdesk" in status.status_label.toolTip()
        assert window.banner.isVisible()
        assert f"port {port}" in window.banner.message_label.text()
        assert dialogs_of(QMessageBox) == []  # no dialog, only the status and one banner

        other.close()
        status.toggle_button.click()
        await wait_for(lambda: control.state == "running")
        assert status.status_label.text().startswith(f"Relay: listening on 127.0.0.1:{port}")
        assert not window.banner.isVisible()  # the warning is out of date
        await control.stop()

    try:
        run_on_qt_loop(qapp, scenario())
    finally:
        other.close()


def _fill_queue(store: Any) -> dict[str, int]:
    """Three messages of shop.example: one sent, one bounced, one still waiting."""
    add_verified_domain(store, "shop.example")
    with store.session() as s:
        domain_id = s.query(DedicatedDomain).filter_by(name="shop.example").one().id
        ids = {
            subject: queue.enqueue(
                s,
                domain_id=domain_id,
                smtp_user_id=None,
                mail_from="orders@shop.example",
                rcpt_tos=[to],
                raw=b"Subject: x\r\n\r\nhello\r\n",
                subject=subject,
            ).id
            for subject, to in (
                ("Your receipt", "alice@client.test"),
                ("Welcome", "nobody@client.test"),
                ("Your parcel", "bob@client.test"),
            )
        }
    claims = queue.claim(store, "test-worker", lease=60, batch_size=10)
    assert claims and claims[0].ids == list(ids.values())
    queue.mark_sent(store, ids["Your receipt"], "test-worker", "250 2.0.0 Ok: queued as 4F2A")
    queue.mark_bounced(store, ids["Welcome"], "test-worker", BOUNCE)
    queue.release(store, [ids["Your parcel"]], "test-worker")
    with store.session() as s:
        s.add(TrackingEvent(message_id=ids["Your receipt"], kind="open"))
    return ids


def _subjects(dialog: QueueDialog) -> set[str]:
    return {m.subject for m in dialog.messages}


def _row_texts(dialog: QueueDialog, subject: str) -> list[str]:
    row = [m.subject for m in dialog.messages].index(subject)
    return [dialog.table.item(row, c).text() for c in range(dialog.table.columnCount())]


def test_the_queue_lists_filters_retries_and_deletes(
    qapp: Any, qtbot: Any, store: Any, secret_service: str
) -> None:
    ids = _fill_queue(store)
    woken: list[bool] = []
    dialog = QueueDialog(store, wake=lambda: woken.append(True))
    qtbot.addWidget(dialog)

    async def scenario() -> None:
        dialog.show()
        await wait_for(lambda: len(dialog.messages) == 3)
        assert dialog.isVisible() and not dialog.isModal()
        assert dialog.summary_label.text() == "In the queue: 1 pending · 1 sent · 1 bounced"
        bounced = _row_texts(dialog, "Welcome")
        assert bounced[1:5] == [
            "orders@shop.example",
            "nobody@client.test",
            "Welcome",
            "Bounced",
        ]
        assert bounced[5] == "1"  # attempts
        assert _row_texts(dialog, "Your parcel")[4] == "Pending"
        assert _row_texts(dialog, "Your receipt")[7] == "1 / 0"  # opened once, no clicks

        # The full upstream answer is in the detail pane.
        dialog.select_message(ids["Welcome"])
        assert BOUNCE in dialog.detail.toPlainText()
        dialog.select_message(ids["Your receipt"])
        assert not dialog.retry_button.isEnabled()  # a sent message is not sent again

        dialog.status_filter.setCurrentIndex(dialog.status_filter.findData("bounced"))
        await wait_for(lambda: _subjects(dialog) == {"Welcome"})
        dialog.select_message(ids["Welcome"])
        assert dialog.retry_button.isEnabled()
        dialog.retry_button.click()
        await wait_for(lambda: dialog.messages == [])  # no longer bounced
        assert woken == [True]  # the relay was told to look now
        assert dialog.stack.currentWidget() is dialog.empty

        dialog.status_filter.setCurrentIndex(dialog.status_filter.findData("pending"))
        await wait_for(lambda: _subjects(dialog) == {"Welcome", "Your parcel"})
        assert _row_texts(dialog, "Welcome")[6] == "Now"  # next attempt

        dialog.select_message(ids["Your parcel"])
        dialog.delete_button.click()
        box = dialogs_of(QMessageBox)[0]
        box.button(QMessageBox.StandardButton.Cancel).click()
        await asyncio.sleep(0.2)
        assert "Your parcel" in _subjects(dialog)
        dialog.delete_button.click()
        box = dialogs_of(QMessageBox)[0]
        assert "Your parcel" in box.text()
        delete = next(b for b in box.buttons() if b.text() == "Delete")
        delete.click()
        await wait_for(lambda: _subjects(dialog) == {"Welcome"})
        assert [m.subject for m in queue.list_messages(store)] == ["Welcome", "Your receipt"]

        dialog.status_filter.setCurrentIndex(0)
        dialog.domain_filter.setCurrentIndex(dialog.domain_filter.findData("shop.example"))
        await wait_for(lambda: _subjects(dialog) == {"Welcome", "Your receipt"})
        dialog.close()

    run_on_qt_loop(qapp, scenario())


@pytest.mark.nsd
def test_retry_now_delivers_a_bounced_message_through_the_running_relay(
    qapp: Any, window: MainWindow, store: Any, secret_service: str, nsd: Any, postdesk_home: Any
) -> None:
    async def scenario() -> None:
        world = await build_world(store, nsd, postdesk_home)
        try:
            options = world.options(listen_port=free_port(), tracking_port=None)
            control = await start_relay(window, store, options)
            await wait_for(lambda: control.state == "running")
            world.sink.handler.reply = "550 5.7.1 Message rejected by the test service"
            await asyncio.to_thread(
                world.send, options.listen_port, message("Spring sale", to="carol@client.test")
            )
            assert window.relay_status is not None
            dialog = window.relay_status.open_queue()
            await wait_for(lambda: [m.status for m in dialog.messages] == ["bounced"], 30)
            assert "550 5.7.1 Message rejected" in _row_texts(dialog, "Spring sale")[-1]

            world.sink.handler.reply = None  # the service takes mail again
            dialog.select_message(dialog.messages[0].id)
            dialog.retry_button.click()
            received = await world.sink.await_for(1)
            assert received[0].rcpt_tos == ["carol@client.test"]
            await wait_for(lambda: [m.status for m in dialog.messages] == ["sent"], 30)
            assert dialog.messages[0].attempts == 2
            qapp.setQuitOnLastWindowClosed(False)  # as Postdesk itself runs
            window.close()  # quitting closes the queue window too
            assert not dialog.isVisible()
            await control.stop()
        finally:
            await close_world(world)

    try:
        run_on_qt_loop(qapp, scenario())
    finally:
        qapp.setQuitOnLastWindowClosed(True)
