"""Received HTML made safe to show: nh3 (the ammonia sanitizer) with a mail-shaped allow list.

Scripts, event handlers, forms, frames, embedded objects, ``<style>`` sheets, ``<link>`` and
``<meta>`` are gone; inline styles keep only properties that cannot fetch anything. Images
refer to the message itself (``cid:``) or to inline ``data:`` images; a remote image would tell
the sender when and where the message was read, so it becomes a placeholder unless the user
allowed remote images for that message.
"""

from __future__ import annotations

import html as html_lib
import re
from dataclasses import dataclass

import nh3

BLOCKED_SRC = "#postdesk-remote-image-blocked"
PLACEHOLDER_CLASS = "postdesk-blocked-image"

_TAGS = set(nh3.ALLOWED_TAGS) | {"font"}
_ATTRIBUTES: dict[str, set[str]] = {
    tag: set(attrs) for tag, attrs in nh3.ALLOWED_ATTRIBUTES.items()
}
_ATTRIBUTES["*"] = {"style", "dir", "lang", "title", "align", "valign", "width", "height"}
_ATTRIBUTES["font"] = {"color", "face", "size"}
for _tag in ("table", "td", "th", "tr", "tbody"):
    _ATTRIBUTES.setdefault(_tag, set()).update({"bgcolor", "border", "cellpadding", "cellspacing"})
# Properties that only lay out and colour: none of them can load a resource.
_STYLE_PROPERTIES = {
    "color", "background-color", "font", "font-family", "font-size", "font-style",
    "font-weight", "line-height", "letter-spacing", "text-align", "text-decoration",
    "text-transform", "text-indent", "vertical-align", "white-space", "word-break",
    "width", "max-width", "min-width", "height", "max-height", "min-height",
    "margin", "margin-top", "margin-right", "margin-bottom", "margin-left",
    "padding", "padding-top", "padding-right", "padding-bottom", "padding-left",
    "border", "border-top", "border-right", "border-bottom", "border-left", "border-color",
    "border-style", "border-width", "border-collapse", "border-spacing", "border-radius",
    "display", "direction", "list-style-type", "table-layout",
}  # fmt: skip
_FETCHING_CSS = re.compile(r"url\s*\(|image-set|@import|expression|\\", re.IGNORECASE)
_DATA_IMAGE = re.compile(r"^data:image/(png|gif|jpe?g|webp|bmp);base64,", re.IGNORECASE)
_BLOCKED_IMG = re.compile(r"<img\b[^>]*\bsrc=\"" + re.escape(BLOCKED_SRC) + r"\"[^>]*>")
_ALT = re.compile(r'\balt="([^"]*)"')


@dataclass(frozen=True)
class SanitizedHtml:
    """HTML safe to show, and whether remote images were left out (the GUI offers to load them)."""

    html: str
    remote_images_blocked: bool


def _is_remote(value: str) -> bool:
    lowered = value.strip().lower()
    return lowered.startswith(("http:", "https:", "//"))


def sanitize_html(markup: str, *, allow_remote_images: bool = False) -> SanitizedHtml:
    """``markup`` with everything active removed; remote images blocked unless allowed."""
    blocked = False

    def keep(tag: str, attr: str, value: str) -> str | None:
        nonlocal blocked
        stripped = value.strip()
        if attr == "style":
            return None if _FETCHING_CSS.search(value) else value
        if tag == "img" and attr == "src":
            lowered = stripped.lower()
            if lowered.startswith("cid:") or _DATA_IMAGE.match(stripped):
                return stripped
            if _is_remote(stripped):
                if allow_remote_images:
                    return stripped
                blocked = True
                return BLOCKED_SRC
            return None  # file:, javascript:, relative paths: nothing to show
        if attr in ("href", "src", "cite") and stripped.lower().startswith("data:"):
            return None  # a data: link can carry a whole page with scripts
        return value

    cleaned = nh3.clean(
        markup,
        tags=_TAGS,
        attributes=_ATTRIBUTES,
        clean_content_tags={"script", "style", "template", "noscript", "title", "head"},
        url_schemes={"http", "https", "mailto", "cid", "data", "tel"},
        attribute_filter=keep,
        link_rel="noopener noreferrer nofollow",
        strip_comments=True,
        filter_style_properties=_STYLE_PROPERTIES,
    )
    if blocked:
        cleaned = _BLOCKED_IMG.sub(_placeholder, cleaned)
    return SanitizedHtml(html=cleaned, remote_images_blocked=blocked)


def _placeholder(match: re.Match[str]) -> str:
    alt = _ALT.search(match.group(0))
    label = html_lib.unescape(alt.group(1)) if alt and alt.group(1).strip() else ""
    text = f"[remote image blocked: {label}]" if label else "[remote image blocked]"
    return f'<span class="{PLACEHOLDER_CLASS}">{html_lib.escape(text)}</span>'
