"""Analyze a message and Save report…, walked like a support person with real widgets."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dkim
import pytest
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QFileDialog

from postdesk.core.dkimkeys import generate_dkim_key
from postdesk.gui.dialogs.analyze import AnalyzeDialog
from postdesk.gui.dialogs.diagnose import DiagnoseDialog
from postdesk.gui.tabs.domains import DomainsPage
from support.nsd import txt
from support.qtloop import dialogs_of, run_on_qt_loop, wait_for

MESSAGES = Path(__file__).parents[1] / "fixtures" / "messages"
KEY = generate_dkim_key(2048, selector="pd1")


@pytest.fixture
def page(qtbot: Any) -> Iterator[DomainsPage]:
    widget = DomainsPage()
    qtbot.addWidget(widget)
    widget.resize(1280, 800)
    widget.show()
    qtbot.waitExposed(widget)
    yield widget
    for kind in (AnalyzeDialog, DiagnoseDialog, QFileDialog):
        for dialog in dialogs_of(kind):
            dialog.close()


def only(kind: type) -> Any:
    found = [d for d in dialogs_of(kind) if d.isVisible()]
    assert len(found) == 1, f"expected one {kind.__name__}, found {len(found)}"
    return found[0]


def tab_titles(dialog: AnalyzeDialog) -> list[str]:
    return [dialog.details.tabText(i) for i in range(dialog.details.count())]


async def choose(path: Path) -> None:
    """Answer the (non-blocking) Save dialog that is open with ``path``."""
    await wait_for(lambda: any(d.isVisible() for d in dialogs_of(QFileDialog)))
    chooser = only(QFileDialog)
    chooser.selectFile(str(path))
    chooser.accept()
    await wait_for(lambda: path.exists())


def test_pasted_headers_show_findings_hops_and_copy_the_report(qapp, page) -> None:
    async def walk() -> AnalyzeDialog:
        page.analyze_button.click()
        dialog = only(AnalyzeDialog)
        assert not dialog.analyze_button.isEnabled()  # nothing pasted yet
        dialog.text_edit.setPlainText((MESSAGES / "outlook.eml").read_text())
        dialog.live_check.setChecked(False)
        dialog.analyze_button.click()
        await wait_for(lambda: dialog.analysis is not None)
        return dialog

    dialog = run_on_qt_loop(qapp, walk())
    assert dialog.findings.codes() == ["hdr.dkim_fail_body_hash", "hdr.dmarc_fail"]
    assert dialog.verdict_label.text() == "2 things to look at."
    assert tab_titles(dialog) == ["Message", "Receivers", "Hops", "Alignment"]
    hops = dialog.details.widget(2)
    assert hops.rowCount() == 5 and hops.item(0, 3).text() == "out9.mailer.example.org"
    dialog.copy_button.click()
    copied = QGuiApplication.clipboard().text()
    assert copied.startswith("Message analysis: Your invoice — March")
    assert "hdr.dkim_fail_body_hash" in copied


def test_text_that_is_no_message_is_said_in_the_dialog(qapp, page) -> None:
    async def walk() -> AnalyzeDialog:
        page.analyze_button.click()
        dialog = only(AnalyzeDialog)
        dialog.text_edit.setPlainText("hello, can you check why my mail is in spam?")
        dialog.live_check.setChecked(False)
        dialog.analyze_button.click()
        await wait_for(lambda: "No mail headers" in dialog.status_label.text())
        return dialog

    dialog = run_on_qt_loop(qapp, walk())
    assert dialog.analysis is None and not dialog.save_button.isEnabled()


@pytest.mark.nsd
def test_open_an_eml_verify_it_now_and_save_the_report(qapp, page, nsd, tmp_path: Path) -> None:
    nsd.serve({"shop.test": f"pd1._domainkey IN TXT {txt(KEY.txt_value)}\n"})
    original = (MESSAGES / "footer-original.eml").read_bytes().replace(b"\n", b"\r\n")
    signed = dkim.sign(original, b"pd1", b"shop.test", KEY.private_pem.encode()) + original
    eml = tmp_path / "customer.eml"
    eml.write_bytes(signed + b"\r\n-- \r\nA footer added after signing\r\n")
    saved = tmp_path / "analysis.html"

    async def walk() -> AnalyzeDialog:
        page.analyze_button.click()
        dialog = only(AnalyzeDialog)
        dialog.open_file(str(eml))
        await wait_for(lambda: "Opened customer.eml" in dialog.status_label.text())
        assert "DKIM-Signature" in dialog.text_edit.toPlainText()
        dialog.analyze_button.click()
        await wait_for(lambda: dialog.analysis is not None)
        dialog.save_button.click()
        await choose(saved)
        await wait_for(lambda: "Report saved" in dialog.status_label.text())
        return dialog

    dialog = run_on_qt_loop(qapp, walk())
    assert "hdr.dkim_fail_body_hash" in dialog.findings.codes()
    assert "Verified now" in tab_titles(dialog) and "DNS now" in tab_titles(dialog)
    html = saved.read_text(encoding="utf-8")
    assert html.startswith("<!DOCTYPE html>") and "hdr.dkim_fail_body_hash" in html
    assert "the body was changed after signing" in html


@pytest.mark.nsd
def test_diagnose_saves_the_same_report(qapp, page, nsd, tmp_path: Path) -> None:
    nsd.serve({"other.test": '@ IN TXT "v=spf1 +all"\n@ IN MX 10 mx.other.test.\n'})
    saved = tmp_path / "other.txt"

    async def walk() -> DiagnoseDialog:
        page.diagnose_button.click()
        dialog = only(DiagnoseDialog)
        assert not dialog.save_button.isEnabled()
        dialog.domain_edit.setText("other.test")
        dialog.check_button.click()
        await wait_for(lambda: dialog.save_button.isEnabled())
        dialog.save_button.click()
        await choose(saved)
        await wait_for(lambda: "Report saved" in dialog.status_label.text())
        return dialog

    run_on_qt_loop(qapp, walk())
    text = saved.read_text(encoding="utf-8")
    assert text.startswith("Domain check: other.test")
    assert "spf.permissive_all" in text and "What to do:" in text
