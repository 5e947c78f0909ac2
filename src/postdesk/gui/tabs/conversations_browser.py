"""A message body viewer that never reaches the network on its own.

Mail is written by strangers: a remote image tells its sender when (and from where) the message
was read. :class:`MessageBrowser` answers Qt's resource requests only from what it was given —
inline (``cid:``) parts, ``data:`` URLs, and remote images fetched beforehand, off the GUI thread,
after the user pressed "Show images" for that message. Everything else stays blank.
"""

from __future__ import annotations

import base64
import urllib.error
import urllib.parse
import urllib.request
from html.parser import HTMLParser

from PySide6.QtCore import QByteArray, Qt, QUrl
from PySide6.QtGui import QDesktopServices, QImage, QTextDocument
from PySide6.QtWidgets import QFrame, QSizePolicy, QTextBrowser, QWidget

# A remote image larger than this is not shown (a mail can point at anything).
MAX_IMAGE_BYTES = 5 * 1024 * 1024
MAX_REMOTE_IMAGES = 40
FETCH_TIMEOUT_S = 10
# Wide newsletter images are scaled down to fit beside the thread list.
MAX_IMAGE_WIDTH = 720
LINK_SCHEMES = frozenset({"http", "https", "mailto"})
REMOTE_SCHEMES = frozenset({"http", "https"})


class _ImageSources(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.found: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "img":
            src = dict(attrs).get("src") or ""
            if urllib.parse.urlsplit(src.strip()).scheme.lower() in REMOTE_SCHEMES:
                self.found.append(src.strip())


def remote_image_urls(html: str) -> list[str]:
    """The http(s) image addresses in ``html``, each once, in order."""
    parser = _ImageSources()
    parser.feed(html)
    return list(dict.fromkeys(parser.found))[:MAX_REMOTE_IMAGES]


def fetch_images(urls: list[str]) -> dict[str, bytes]:
    """Download the images at ``urls`` (blocking: run it in a worker thread).

    One that fails, is not an image or is too large is left out: the message shows without it.
    """
    fetched: dict[str, bytes] = {}
    for url in urls:
        request = urllib.request.Request(url, headers={"User-Agent": "Postdesk"})
        try:
            with urllib.request.urlopen(request, timeout=FETCH_TIMEOUT_S) as response:
                kind = response.headers.get_content_type()
                data = response.read(MAX_IMAGE_BYTES + 1)
        except (OSError, ValueError, urllib.error.URLError):
            continue
        if kind.startswith("image/") and len(data) <= MAX_IMAGE_BYTES:
            fetched[url] = data
    return fetched


def _image(data: bytes) -> QImage | None:
    image = QImage.fromData(QByteArray(data))
    if image.isNull():
        return None
    if image.width() > MAX_IMAGE_WIDTH:
        return image.scaledToWidth(MAX_IMAGE_WIDTH)
    return image


def _data_url(url: QUrl) -> bytes | None:
    # data:[<type>][;base64],<payload>
    _head, comma, payload = url.toString().partition(",")
    if not comma:
        return None
    if _head.endswith(";base64"):
        try:
            return base64.b64decode(urllib.parse.unquote(payload), validate=False)
        except ValueError:
            return None
    return urllib.parse.unquote_to_bytes(payload)


class MessageBrowser(QTextBrowser):
    """Shows one message's text or sanitized HTML, as tall as its content."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setOpenExternalLinks(False)
        self.setOpenLinks(False)
        self.anchorClicked.connect(self._open_link)
        # Where a link really goes, before it is clicked (the text may say something else).
        self.highlighted.connect(lambda url: self.setToolTip(url.toString()))
        self.setFrameShape(QFrame.Shape.NoFrame)
        self.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.inline_parts: dict[str, bytes] = {}
        self.remote_images: dict[str, bytes] = {}
        #: Every remote address Qt asked for; only those in ``remote_images`` were answered.
        self.remote_requests: list[str] = []
        self.document().documentLayout().documentSizeChanged.connect(self._fit_height)

    def show_html(self, html: str, *, remote_images: dict[str, bytes] | None = None) -> None:
        self.remote_images = dict(remote_images or {})
        self.setHtml(html)

    def loadResource(self, kind: int, url: QUrl) -> object:
        scheme = url.scheme().lower()
        data: bytes | None = None
        if scheme == "data":
            data = _data_url(url)
        elif scheme == "cid":
            data = self.inline_parts.get(url.path()) or self.inline_parts.get(url.toString()[4:])
        elif scheme in REMOTE_SCHEMES:
            self.remote_requests.append(url.toString())
            data = self.remote_images.get(url.toString())
        # Anything else (file:, relative paths, unknown schemes) is never read.
        if data is None:
            return None
        if kind == QTextDocument.ResourceType.ImageResource.value:
            return _image(data)
        return None

    def _open_link(self, url: QUrl) -> None:
        # A click is the user's own choice to leave Postdesk; only web and mail links open.
        if url.scheme().lower() in LINK_SCHEMES:
            QDesktopServices.openUrl(url)

    def _fit_height(self) -> None:
        margins = self.contentsMargins()
        height = round(self.document().size().height()) + margins.top() + margins.bottom()
        self.setFixedHeight(max(height, self.fontMetrics().height() * 2))

    def resizeEvent(self, event: object) -> None:
        super().resizeEvent(event)  # type: ignore[arg-type]
        self._fit_height()
