"""Open and click tracking: a 1×1 image appended to HTML parts, and http(s) links rewritten.

Links are never rewritten when they are not http(s) (mailto:, tel:, anchors), when the link or
its text mentions "unsubscribe", or when they are a List-Unsubscribe target: unsubscribing must
work without passing through the tracker. A rewritten link carries the original URL and an HMAC
of it made with the message's own key, so the tracker can't be used to redirect anywhere else.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import html
import re
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from urllib.parse import quote

_ANCHOR = re.compile(r"<a\b(?P<attrs>[^>]*)>(?P<text>.*?)</a\s*>", re.IGNORECASE | re.DOTALL)
_HREF = re.compile(
    r"""(?P<lead>\bhref\s*=\s*)(?:"(?P<dq>[^"]*)"|'(?P<sq>[^']*)'|(?P<bare>[^\s"'>]+))""",
    re.IGNORECASE,
)
_TAG = re.compile(r"<[^>]*>")
_BODY_END = re.compile(r"</body\s*>", re.IGNORECASE)
_ANGLED = re.compile(r"<([^>]+)>")


def url_signature(key: str, url: str) -> str:
    """The signature a tracked link carries for ``url`` (HMAC-SHA256, base64url, 128 bits)."""
    digest = hmac.new(key.encode("ascii"), url.encode("utf-8"), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest[:16]).decode("ascii").rstrip("=")


def click_url(base: str, token: str, key: str, url: str) -> str:
    """The tracked form of a link."""
    return f"{base}/c/{token}?u={quote(url, safe='')}&s={url_signature(key, url)}"


def open_url(base: str, token: str) -> str:
    """The address of a message's open-tracking image."""
    return f"{base}/o/{token}.gif"


def unsubscribe_targets(message: EmailMessage) -> set[str]:
    """The URLs named in the List-Unsubscribe header (never rewritten)."""
    found: set[str] = set()
    for value in message.get_all("List-Unsubscribe") or []:
        found.update(m.strip() for m in _ANGLED.findall(str(value)))
    return found


def rewrite_html(
    text: str,
    *,
    base: str,
    token: str,
    key: str,
    track_open: bool,
    track_click: bool,
    keep: set[str] = frozenset(),  # type: ignore[assignment]
) -> str:
    """One HTML document with tracked links and/or the open pixel."""
    if track_click:

        def anchor(match: re.Match[str]) -> str:
            attrs = match.group("attrs")
            href = _HREF.search(attrs)
            if href is None:
                return match.group(0)
            raw = href.group("dq") or href.group("sq") or href.group("bare") or ""
            url = html.unescape(raw).strip()
            label = html.unescape(_TAG.sub("", match.group("text"))).lower()
            if (
                not url.lower().startswith(("http://", "https://"))
                or "unsubscribe" in url.lower()
                or "unsubscribe" in label
                or url in keep
                or url.startswith(base + "/")
            ):
                return match.group(0)
            new = html.escape(click_url(base, token, key, url), quote=True)
            attrs = attrs[: href.start()] + f'{href.group("lead")}"{new}"' + attrs[href.end() :]
            return f"<a{attrs}>{match.group('text')}</a>"

        text = _ANCHOR.sub(anchor, text)
    if track_open:
        pixel = (
            f'<img src="{html.escape(open_url(base, token), quote=True)}" width="1" height="1" '
            'alt="" style="display:block;border:0;width:1px;height:1px" />'
        )
        ends = list(_BODY_END.finditer(text))
        if ends:
            at = ends[-1].start()
            text = text[:at] + pixel + text[at:]
        else:
            text += pixel
    return text


def apply_tracking(
    raw: bytes, *, base: str, token: str, key: str, track_open: bool, track_click: bool
) -> bytes:
    """The message with tracking applied to its HTML parts (unchanged when there are none)."""
    if not (track_open or track_click):
        return raw
    message = BytesParser(policy=policy.default).parsebytes(raw)
    assert isinstance(message, EmailMessage)
    keep = unsubscribe_targets(message)
    changed = False
    for part in message.walk():
        if part.get_content_type() != "text/html" or part.is_attachment():
            continue
        try:
            original = part.get_content()
        except (LookupError, ValueError):
            continue  # an unknown charset: leave the part as it came
        new = rewrite_html(
            original,
            base=base,
            token=token,
            key=key,
            track_open=track_open,
            track_click=track_click,
            keep=keep,
        )
        if new != original:
            part.set_content(new, subtype="html", charset="utf-8")
            changed = True
    if not changed:
        return raw
    return message.as_bytes(policy=policy.SMTP)
