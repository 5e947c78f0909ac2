"""HTML from strangers is shown without anything that runs, fetches or submits."""

from __future__ import annotations

import pytest

from postdesk.core.conversations import get_thread, list_threads, sanitized_html
from postdesk.core.conversations.sanitize import sanitize_html


@pytest.fixture
def offer(conversations_store, file_sample) -> int:
    return file_sample("script-remote-images.eml")


@pytest.mark.parametrize("conversations_store", ["sqlite"], indirect=True)
def test_scripts_handlers_forms_frames_and_fetching_styles_are_gone(
    conversations_store, offer
) -> None:
    shown = sanitized_html(conversations_store, offer, allow_remote_images=False)
    page = shown.html.lower()
    for active in ("<script", "document.cookie", "onload", "onclick", "<form", "<input",
                   "<iframe", "<link", "<style", "url(", "javascript:"):  # fmt: skip
        assert active not in page, active
    assert "Half price on everything" in shown.html
    assert 'href="https://deals.example/offer?id=991"' in shown.html


@pytest.mark.parametrize("conversations_store", ["sqlite"], indirect=True)
def test_remote_images_are_blocked_until_allowed_and_cid_images_stay(
    conversations_store, offer
) -> None:
    blocked = sanitized_html(conversations_store, offer, allow_remote_images=False)
    assert blocked.remote_images_blocked
    assert "track.deals.example" not in blocked.html
    assert "cdn.deals.example" not in blocked.html
    assert "[remote image blocked: Spring banner]" in blocked.html
    assert 'src="cid:logo-7781@deals.example"' in blocked.html

    allowed = sanitized_html(conversations_store, offer, allow_remote_images=True)
    assert not allowed.remote_images_blocked
    assert 'src="https://cdn.deals.example/banner.jpg"' in allowed.html
    assert 'src="cid:logo-7781@deals.example"' in allowed.html
    assert "<script" not in allowed.html  # allowing images allows nothing else


@pytest.mark.parametrize("conversations_store", ["sqlite"], indirect=True)
def test_the_thread_view_carries_sanitized_html_and_the_blocked_flag(
    conversations_store, offer
) -> None:
    [summary] = list_threads(conversations_store, "example.com")
    [message] = get_thread(conversations_store, summary.id).messages
    assert message.remote_images_blocked
    assert "<script" not in message.html
    assert "Half price on everything" in message.text  # the text comes from the HTML
    assert "document.location" not in message.text
    assert message.verdicts == {"spf": "pass", "dkim": "pass", "dmarc": "pass"}
    assert [a.filename for a in message.attachments] == ["logo.png"]


@pytest.mark.parametrize("conversations_store", ["sqlite"], indirect=True)
def test_outlook_and_gmail_html_keep_their_text_and_harmless_styling(
    conversations_store, file_sample
) -> None:
    outlook = file_sample("outlook-html.eml")
    gmail = file_sample("gmail-html.eml")
    shown = sanitized_html(conversations_store, outlook, allow_remote_images=False)
    assert "Lieferung für Auftrag 88120" in shown.html
    assert 'style="color:#1F3864"' in shown.html
    assert "MsoNormal {" not in shown.html and "<o:p>" not in shown.html
    assert not shown.remote_images_blocked
    gmail_shown = sanitized_html(conversations_store, gmail, allow_remote_images=False)
    assert "<b>Łódź</b>" in gmail_shown.html
    assert "<blockquote" in gmail_shown.html


@pytest.mark.parametrize(
    "attack",
    [
        '<img src="x" onerror="alert(1)">',
        "<svg><script>alert(1)</script></svg>",
        '<a href="data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==">x</a>',
        '<div style="background-image: u\\72l(https://t.example/p.gif)">x</div>',
        '<meta http-equiv="refresh" content="0;url=https://evil.example/">',
        '<object data="https://evil.example/x.swf"></object><embed src="https://evil.example/x">',
        '<base href="https://evil.example/"><a href="/x">x</a>',
        '<table background="https://t.example/bg.gif"><tr><td>x</td></tr></table>',
        '<img srcset="https://t.example/p.gif 1x">',
    ],
)
def test_known_tricks_leave_nothing_active(attack: str) -> None:
    shown = sanitize_html(attack).html.lower()
    for bad in ("onerror", "<script", "data:text", "url(", "u\\72l", "<meta", "<object",
                "<embed", "<base", "background=", "srcset", "t.example",
                "evil.example"):  # fmt: skip
        assert bad not in shown, (attack, shown)
