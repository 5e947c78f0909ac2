"""The hand-over report: rendered by a real browser engine, self-contained, escaped, no secrets."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path
from typing import ClassVar

import pytest

from postdesk.cli import main
from postdesk.core.analyze import analyze_message
from postdesk.core.errors import UserError
from postdesk.core.report import from_analysis, from_test_result, render_html, save_report
from support.nsd import Nsd
from support.services import need
from support.smtpd import SMTP_PASSWORD, endpoint_for

MESSAGES = Path(__file__).parents[1] / "fixtures" / "messages"
HOSTILE_SUBJECT = (
    b'Subject: <script>alert(1)</script><img src="https://tracker.example/p.gif">'
    b"<link rel=stylesheet href=//cdn.example/x.css>"
)

# Loads the report in QtWebEngine (Chromium) offscreen, records every request the page makes,
# and prints what the engine built: the findings' text and the elements of the DOM.
BROWSER = r"""
import json, sys
from PySide6.QtCore import QTimer, QUrl
from PySide6.QtWebEngineCore import (QWebEnginePage, QWebEngineProfile,
    QWebEngineUrlRequestInterceptor)
from PySide6.QtWidgets import QApplication

class Recorder(QWebEngineUrlRequestInterceptor):
    def __init__(self):
        super().__init__()
        self.urls = []
    def interceptRequest(self, info):
        self.urls.append(info.requestUrl().toString())

app = QApplication(sys.argv)
profile = QWebEngineProfile()
recorder = Recorder()
profile.setUrlRequestInterceptor(recorder)
page = QWebEnginePage(profile)
SCRIPT = '''JSON.stringify({
  findings: [...document.querySelectorAll("ol.findings > li")].map(li => li.innerText),
  tags: [...new Set([...document.querySelectorAll("*")].map(e => e.tagName.toLowerCase()))],
  details: [...document.querySelectorAll("details")].map(d => ({
    open: d.open, summary: d.querySelector("summary").innerText,
    content: d.querySelector("pre").textContent})),
  title: document.title,
  text: document.body.innerText,
})'''

def loaded(ok):
    def done(result):
        print(json.dumps({"ok": ok, "dom": json.loads(result), "requests": recorder.urls}))
        app.quit()
    page.runJavaScript(SCRIPT, 0, done)

page.loadFinished.connect(loaded)
with open(sys.argv[1], encoding="utf-8") as handle:
    page.setHtml(handle.read(), QUrl("about:blank"))
QTimer.singleShot(30000, app.quit)
app.exec()
"""


def render_in_browser(path: Path) -> dict:
    try:
        import PySide6.QtWebEngineCore  # noqa: F401
    except ImportError as err:
        need("QtWebEngine", str(err))
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    env["QTWEBENGINE_CHROMIUM_FLAGS"] = "--no-sandbox --disable-gpu"
    done = subprocess.run(
        [sys.executable, "-c", BROWSER, str(path)],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    assert lines, f"the browser engine printed nothing: {done.stderr[-2000:]}"
    return json.loads(lines[-1])


class _References(HTMLParser):
    """Every place an HTML file could make a reader's computer fetch something."""

    URL_ATTRIBUTES: ClassVar[set[str]] = {
        "src",
        "href",
        "action",
        "srcset",
        "poster",
        "data",
        "formaction",
    }

    def __init__(self) -> None:
        super().__init__()
        self.found: list[str] = []
        self.tags: set[str] = set()
        self.style = ""
        self._in_style = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.add(tag)
        self._in_style = tag == "style"
        for name, value in attrs:
            if name in self.URL_ATTRIBUTES or (name == "style" and "url(" in (value or "")):
                self.found.append(f"<{tag} {name}={value}>")

    def handle_endtag(self, tag: str) -> None:
        self._in_style = False

    def handle_data(self, data: str) -> None:
        if self._in_style:
            self.style += data


def references(html: str) -> _References:
    parser = _References()
    parser.feed(html)
    return parser


async def hostile_analysis():
    raw = (MESSAGES / "yahoo.eml").read_bytes()
    raw = raw.replace(b"Subject: This week: 5 things to read", HOSTILE_SUBJECT)
    return await analyze_message(raw, check_dns=False)


async def test_html_report_renders_in_a_browser_engine_and_fetches_nothing(
    tmp_path: Path,
) -> None:
    analysis = await hostile_analysis()
    path = save_report(from_analysis(analysis), tmp_path / "report.html")
    seen = render_in_browser(path)
    assert seen["ok"]
    dom = seen["dom"]
    assert len(dom["findings"]) == len(analysis.findings) == 2
    assert "42 minutes" in dom["findings"][0] and "What to do:" in dom["findings"][0]
    assert "hdr.unsubscribe_no_https" in dom["findings"][1]
    # The hostile subject is shown as text; none of its tags became elements.
    assert "<script>alert(1)</script>" in dom["title"]
    assert not {"script", "img", "link", "iframe"} & set(dom["tags"])
    # The raw headers are there, folded: not in the visible text until opened.
    (headers,) = [d for d in dom["details"] if d["summary"] == "Message headers"]
    assert not headers["open"] and "Received: from 10.217.151.75" in headers["content"]
    assert "Received: from 10.217.151.75" not in dom["text"]
    assert [u for u in seen["requests"] if not u.startswith(("data:", "about:"))] == []


async def test_html_report_file_has_no_external_reference(tmp_path: Path) -> None:
    html = render_html(from_analysis(await hostile_analysis()))
    parsed = references(html)
    assert parsed.found == []
    assert parsed.tags.isdisjoint({"script", "link", "img", "iframe", "object", "embed"})
    assert "url(" not in parsed.style and "@import" not in parsed.style
    assert "@media print" in parsed.style
    assert "<details>" in html and "Postdesk" in html


def test_cli_analyze_formats_and_exit_status(capsys: pytest.CaptureFixture[str]) -> None:
    fixture = str(MESSAGES / "fastmail.eml")
    assert main(["analyze", fixture, "--no-dns", "--format", "html"]) == 1  # errors found
    html = capsys.readouterr().out
    assert html.startswith("<!DOCTYPE html>") and "hdr.dmarc_unaligned" in html
    assert references(html).found == []

    assert main(["analyze", fixture, "--no-dns", "--json"]) == 1
    data = json.loads(capsys.readouterr().out)
    assert [f["code"] for f in data["findings"]][:2] == ["hdr.dmarc_fail", "hdr.dmarc_unaligned"]
    assert data["alignment"]["from_domain"] == "example.com"

    assert main(["analyze", str(MESSAGES / "gmail.eml"), "--no-dns"]) == 0
    text = capsys.readouterr().out
    assert "hdr.spf_softfail" in text and "mx.google.com" in text
    # Each table names its columns, or "SPF | em1234.example.com | softfail | yes | no" is a riddle.
    lines = text.splitlines()
    alignment = lines.index("Alignment with the From domain example.com")
    assert lines[alignment + 1] == "  Kind | Domain | Receiver's result | Relaxed | Strict"
    assert lines[alignment + 2].startswith("  SPF | em1234.example.com | softfail")
    assert not any(line.strip() == "|" for line in lines)  # a table without names gets none


def test_cli_analyze_missing_file_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["analyze", "no-such-message.eml"]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.count("\n") == 1 and "no-such-message.eml" in captured.err


def test_cli_analyze_refuses_a_file_that_is_not_mail(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """An image opened by mistake is named for what it is, never reported as "Result: OK"."""
    image = tmp_path / "screenshot.png"
    image.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x01\x00" + bytes(range(256)))
    assert main(["analyze", str(image), "--no-dns"]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.count("\n") == 1 and "not a mail message" in captured.err


def test_cli_analyze_reads_standard_input(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import io

    raw = (MESSAGES / "skewed-clocks.eml").read_bytes()
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(raw)))
    assert main(["analyze", "-", "--no-dns", "--format", "json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["kind"] == "Message analysis"
    assert [f["code"] for f in report["findings"]] == ["hdr.clock_skew", "hdr.clock_skew"]
    assert report["made_on"] and report["postdesk_version"]


@pytest.mark.nsd
def test_cli_check_report_has_records_and_fixes(
    nsd: Nsd, capsys: pytest.CaptureFixture[str]
) -> None:
    nsd.serve({"shop.test": '@ IN TXT "v=spf1 include:spf.mailer.test ~all"\n'})
    assert main(["check", "shop.test", "--format", "text"]) == 1
    text = capsys.readouterr().out
    assert text.startswith("Domain check: shop.test")
    assert "dmarc.missing" in text and "What to do:" in text
    assert "v=spf1 include:spf.mailer.test ~all" in text  # the raw evidence


async def test_test_send_report_has_the_transcript_but_no_password(smtp_server) -> None:
    from postdesk.core.smtptest import build_test_message, run_test

    server = smtp_server(security="starttls")
    message = build_test_message("hello@shop.test", "owner@example.org", "Test", "Hi", "<p>Hi</p>")
    result = await run_test(endpoint_for(server), message)
    assert result.ok
    html = render_html(from_test_result(result, "hello@shop.test to owner@example.org"))
    assert "STARTTLS" in html and "AUTH" in html
    assert SMTP_PASSWORD not in html
    assert references(html).found == []


async def test_a_report_that_cannot_be_written_is_a_clear_error(tmp_path: Path) -> None:
    report = from_analysis(await analyze_message(b"From: a@b.example\n", check_dns=False))
    with pytest.raises(UserError) as caught:
        save_report(report, tmp_path / "no-such-folder" / "r.html")
    assert "save the report" in caught.value.message
    assert list(tmp_path.iterdir()) == []
    # Saving over an older report replaces it whole.
    old = tmp_path / "r.html"
    old.write_text("old")
    save_report(report, old)
    assert old.read_text().startswith("<!DOCTYPE html>")
    assert [p.name for p in tmp_path.iterdir()] == ["r.html"]


@pytest.mark.nsd
async def test_ip_report_from_the_stored_check(nsd: Nsd) -> None:
    from postdesk.core.dnscheck import check_ip
    from postdesk.core.report import from_ip_dict, render_text

    nsd.serve(
        {
            "2.0.192.in-addr.arpa": "10 IN PTR mail.shop.test.\n",
            "shop.test": 'mail IN A 192.0.2.10\n@ IN TXT "v=spf1 ip4:192.0.2.10 -all"\n',
            "bl.test": "10.2.0.192 IN A 127.0.0.3\n"
            '10.2.0.192 IN TXT "Listed for spam, see https://bl.test/lookup"\n'
            "2.0.0.127 IN A 127.0.0.2\n",
        }
    )
    checked = await check_ip("192.0.2.10", domains_spf=["shop.test"], blocklists=["bl.test"])
    stored = json.loads(json.dumps(checked.as_dict()))  # as the IP list keeps it
    report = from_ip_dict(stored)
    text = render_text(report)
    assert text.startswith("IP check: 192.0.2.10") and "Result: FAILING" in text
    assert "ip.listed" in text and "mail.shop.test" in text
    html = render_html(report)
    assert "https://bl.test/lookup" in html  # shown as text from DNS ...
    assert references(html).found == []  # ... never as something to fetch
