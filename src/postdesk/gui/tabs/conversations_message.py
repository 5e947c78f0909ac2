"""One message of a conversation: its headers, the sender's SPF/DKIM/DMARC results, the body
(text, or sanitized HTML with remote images held back until asked for) and its attachments."""

from __future__ import annotations

import asyncio
import contextlib
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QFileDialog, QFrame, QGridLayout, QPushButton, QWidget

from postdesk.gui.asyncutil import async_slot, run_blocking, start_task
from postdesk.gui.qtutils import SPACE_M, SPACE_S, SPACE_XS, hbox, label, muted, vbox
from postdesk.gui.tabs.conversations_browser import (
    MAX_IMAGE_BYTES,
    MessageBrowser,
    fetch_images,
    remote_image_urls,
)
from postdesk.gui.widgets.banner import Banner
from postdesk.gui.widgets.stats_panel import local_time
from postdesk.gui.widgets.status_badge import State, StatusBadge

if TYPE_CHECKING:
    from postdesk.core.conversations import AttachmentInfo, MessageView
    from postdesk.core.store import Store

PASSING = frozenset({"pass"})
FAILING = frozenset({"fail", "softfail", "permerror", "temperror", "policy"})
VERDICT_HELP = {
    "SPF": "Whether the sending server may send for the envelope sender's domain",
    "DKIM": "Whether the message carries a valid signature of its domain",
    "DMARC": "Whether the From domain's policy passed (SPF or DKIM aligned with the From)",
}


def _inline_parts(store: Store, message_id: int, wanted: list[AttachmentInfo]) -> dict[str, bytes]:
    """The bytes of the inline images by Content-ID (blocking: run it in a worker thread).

    Read through ``save_attachment`` so the same size and archive checks apply as to a save;
    the copies live in a folder removed at once.
    """
    from postdesk.core import conversations
    from postdesk.core.errors import UserError

    found: dict[str, bytes] = {}
    with tempfile.TemporaryDirectory(prefix="postdesk-inline-") as folder:
        for attachment in wanted:
            try:
                path = conversations.save_attachment(
                    store, message_id, attachment.index, Path(folder)
                )
            except UserError:
                continue  # refused (too large): the image stays blank
            found[attachment.content_id] = Path(path).read_bytes()
    return found


def verdict_state(result: str) -> State:
    """How a result reads as a badge: pass green, a failure red, none/neutral grey."""
    word = result.strip().lower()
    if word in PASSING:
        return "ok"
    if word in FAILING:
        return "failed"
    return "untested"


def human_size(size: int) -> str:
    for unit in ("bytes", "KB", "MB"):
        if size < 1024 or unit == "MB":
            return f"{size} {unit}" if unit == "bytes" else f"{size:.1f} {unit}"
        size /= 1024  # type: ignore[assignment]
    return f"{size} MB"  # pragma: no cover (the loop always returns)


class MessageCard(QFrame):
    """Shows one message; a "Show images" click and "Save…" clicks work through the store."""

    #: A user-facing outcome (saved a file, images shown) for the page's banner.
    saved = Signal(str)

    def __init__(
        self, store: Store, message: MessageView, banner: Banner, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.store = store
        self.message = message
        self.banner = banner
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.setObjectName(f"message-{message.id}")
        self.badges: dict[str, StatusBadge] = {}
        self.browser = MessageBrowser()
        self.browser.setAccessibleName(f"Message from {message.from_header}")
        self.images_button = QPushButton("Show images")
        self.images_button.setToolTip(
            "This message loads images from the internet, which tells its sender you read it. "
            "Show them for this message only."
        )
        self.images_button.clicked.connect(self.show_images)
        self.images_note = muted(label("Remote images are blocked.", wrap=False))
        self.save_buttons: list[QPushButton] = []
        layout = vbox(
            self._headers(),
            self._badges(),
            margin=SPACE_M,
            spacing=SPACE_S,
        )
        if message.html and message.remote_images_blocked:
            images_row = hbox(self.images_note, self.images_button, spacing=SPACE_S)
            images_row.addStretch(1)
            layout.addLayout(images_row)
        layout.addWidget(self.browser)
        if message.attachments:
            layout.addLayout(self._attachments(message.attachments))
        self.setLayout(layout)
        self._show_body()
        if self.inline_images():
            start_task(self.load_inline_images(), banner=banner)

    def _headers(self) -> QGridLayout:
        grid = QGridLayout()
        grid.setHorizontalSpacing(SPACE_M)
        grid.setVerticalSpacing(SPACE_XS)
        message = self.message
        rows = [("From", message.from_header), ("To", message.to_header)]
        if message.cc_header:
            rows.append(("Cc", message.cc_header))
        rows.append(("Date", local_time(message.received_at)))
        if message.direction == "out":
            rows.append(("", "Sent from Postdesk"))
        for row, (name, value) in enumerate(rows):
            grid.addWidget(muted(label(name, wrap=False)), row, 0)
            grid.addWidget(label(value, selectable=True), row, 1)
        grid.setColumnStretch(1, 1)
        return grid

    def _badges(self) -> QWidget:
        row = hbox(spacing=SPACE_S)
        for name, result in (
            ("SPF", self.message.spf),
            ("DKIM", self.message.dkim),
            ("DMARC", self.message.dmarc),
        ):
            badge = StatusBadge()
            badge.set_state(verdict_state(result), f"{name} {result or 'none'}")
            badge.setToolTip(VERDICT_HELP[name])
            self.badges[name] = badge
            row.addWidget(badge)
        row.addStretch(1)
        holder = QWidget()
        holder.setLayout(row)
        holder.setVisible(self.message.direction != "out")  # our own reply was not checked
        return holder

    def _attachments(self, attachments: tuple[AttachmentInfo, ...]) -> QGridLayout:
        grid = QGridLayout()
        grid.setHorizontalSpacing(SPACE_M)
        for row, attachment in enumerate(attachments):
            save = QPushButton("Save…")
            save.setAccessibleName(f"Save {attachment.filename}")
            save.clicked.connect(lambda _=False, a=attachment: self.ask_where_to_save(a))
            self.save_buttons.append(save)
            grid.addWidget(label(attachment.filename, selectable=True), row, 0)
            size = human_size(attachment.size)
            grid.addWidget(muted(label(f"{attachment.content_type}, {size}", wrap=False)), row, 1)
            grid.addWidget(save, row, 2)
        grid.setColumnStretch(0, 1)
        return grid

    def _show_body(self, remote_images: dict[str, bytes] | None = None, html: str = "") -> None:
        self._html = html
        if html or self.message.html:
            self.browser.show_html(html or self.message.html, remote_images=remote_images)
        else:
            self.browser.setPlainText(self.message.text)

    # --- inline (cid:) images -----------------------------------------------------------------

    def inline_images(self) -> list[AttachmentInfo]:
        """The message's own images its HTML shows in place (``cid:``), small enough to show."""
        if "cid:" not in self.message.html.lower():
            return []
        return [
            a
            for a in self.message.attachments
            if a.content_id and a.content_type.startswith("image/") and a.size <= MAX_IMAGE_BYTES
        ]

    async def load_inline_images(self) -> None:
        """Read the inline images (through core's size checks, off the GUI thread); re-show."""
        store, message_id, wanted = self.store, self.message.id, self.inline_images()
        parts = await asyncio.to_thread(_inline_parts, store, message_id, wanted)
        with contextlib.suppress(RuntimeError):  # the card was closed meanwhile
            self.browser.inline_parts = parts
            self.browser.show_html(self.browser_html(), remote_images=self.browser.remote_images)

    def browser_html(self) -> str:
        return self._html or self.message.html

    # --- remote images ------------------------------------------------------------------------

    @async_slot(button="images_button")
    async def show_images(self) -> None:
        """Load this message's remote images (in a worker thread) and show the message with them."""
        from postdesk.core import conversations

        store, message_id = self.store, self.message.id
        self.images_note.setText("Loading images…")
        sanitized = await asyncio.to_thread(
            conversations.sanitized_html, store, message_id, allow_remote_images=True
        )
        html = sanitized.html
        urls = remote_image_urls(html)
        images = await run_blocking(lambda: fetch_images(urls))
        self._show_body(images, html)
        self.images_button.hide()
        missing = len(urls) - len(images)
        self.images_note.setText(
            f"{missing} of {len(urls)} images could not be loaded." if missing else ""
        )
        self.images_note.setVisible(bool(missing))

    # --- attachments --------------------------------------------------------------------------

    def ask_where_to_save(self, attachment: AttachmentInfo) -> QFileDialog:
        """Ask for a file name (never opening the attachment), then save it there."""
        dialog = QFileDialog(self, f"Save {attachment.filename}")
        dialog.setAcceptMode(QFileDialog.AcceptMode.AcceptSave)
        dialog.selectFile(str(Path.home() / attachment.filename))
        dialog.fileSelected.connect(lambda path: self.save_attachment(attachment, Path(path)))
        dialog.finished.connect(dialog.deleteLater)
        dialog.open()
        return dialog

    @async_slot
    async def save_attachment(self, attachment: AttachmentInfo, path: Path) -> Path:
        """Write one attachment to ``path`` off the GUI thread; the banner says where."""
        from postdesk.core import conversations

        written = await asyncio.to_thread(
            conversations.save_attachment, self.store, self.message.id, attachment.index, path
        )
        shown = Path(written) if written else path
        self.banner.show_message("info", f"Saved {attachment.filename} to {shown}")
        return shown
