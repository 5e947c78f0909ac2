"""The DNS records table shows every value whole, with its Copy button and status in view."""

from __future__ import annotations

import base64
from typing import Any

import pytest
from PySide6.QtCore import QPoint, QRect
from PySide6.QtWidgets import QWidget

from postdesk.core import recordgen
from postdesk.core.store import Store
from postdesk.core.store.models import DedicatedDomain, DomainRecord
from postdesk.gui.mainwindow import DEFAULT_SIZE, MainWindow
from postdesk.gui.tabs import Tab
from postdesk.gui.tabs.domains import DomainsPage
from support.qtloop import run_on_qt_loop

DOMAIN = "brightshop.example"
# A 2048-bit key's public part: the value is about 400 characters without a space.
PUBLIC_KEY = base64.b64encode(bytes(range(256)) + bytes(38)).decode()


def add_domain_with_records(store: Store) -> list[str]:
    records = recordgen.build_expected_records(
        DOMAIN,
        ownership_token="postdesk-verification=3f9a1c2b7d",
        spf_include="sendgrid.net",
        dkim_selector="pd20261129",
        dkim_public_b64=PUBLIC_KEY,
        dmarc_rua=f"dmarc-reports@{DOMAIN}",
        return_path_target="bounces.postdesk-host.example",
    )
    with store.session() as s:
        domain = DedicatedDomain(name=DOMAIN, ownership_token="t")
        s.add(domain)
        s.flush()
        for position, r in enumerate(records):
            s.add(
                DomainRecord(
                    domain_id=domain.id,
                    position=position,
                    kind=r.kind,
                    type=r.type,
                    host=r.host,
                    value=r.value,
                    required=r.required,
                )
            )
    return [r.value for r in records]


def inside(widget: QWidget, area: QWidget) -> bool:
    """Whether all of ``widget`` lies within ``area`` (nothing of it cut off)."""
    top_left = widget.mapTo(area, QPoint(0, 0))
    return area.rect().contains(QRect(top_left, widget.size()))


@pytest.mark.parametrize("width", [900, DEFAULT_SIZE[0]])
def test_every_value_is_shown_whole_with_its_copy_button_and_status(
    qapp: Any, qtbot: Any, store: Store, width: int
) -> None:
    values = add_domain_with_records(store)
    window = MainWindow()
    qtbot.addWidget(window)
    window.resize(width, DEFAULT_SIZE[1])
    window.show()
    run_on_qt_loop(qapp, window.attach_store(store))
    window.select_tab(Tab.DOMAINS)
    page = window.page(Tab.DOMAINS)
    assert isinstance(page, DomainsPage)
    qtbot.waitUntil(lambda: page.detail.table.isVisible())
    table = page.detail.table
    qtbot.wait(50)  # the resize after the tab is shown

    dkim = table.row_of("dkim")
    assert len(table.value_widget(dkim).text()) > 400
    for row, value in enumerate(values):
        shown = table.value_widget(row)
        assert shown.text() == value
        assert shown.height() >= shown.heightForWidth(shown.width()), "no line of it is cut off"
        assert inside(shown, table.viewport())
        assert inside(table.value_copy_button(row), table.viewport()), "Copy is never clipped"
        assert inside(table.host_copy_button(row), table.viewport())
        badge = table.cellWidget(2 * row, 2)
        assert inside(badge, table.viewport()), "the Status column stays in view"
    assert table.value_widget(dkim).height() > 2 * table.value_widget(dkim).fontMetrics().height()
