"""What a page shows before there is anything on it: an icon, what will appear, what to do first."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QHBoxLayout, QLabel, QPushButton, QWidget

from postdesk.gui.qtutils import (
    EMPTY_STATE_ICON_SIZE,
    HEADING_FONT_SCALE,
    SPACE_M,
    SPACE_S,
    SPACE_XL,
    label,
    muted,
    pixmap,
    scaled_font,
    vbox,
)

# Long explanations stay readable when the window is wide.
TEXT_MAX_WIDTH = 460
# Much larger than the stretches beside it, so the sentence takes its full width first.
TEXT_STRETCH = 100


class EmptyState(QWidget):
    """A centred icon, a short heading and one sentence; optionally a primary button."""

    def __init__(
        self,
        icon: str,
        heading: str,
        text: str,
        *,
        button_text: str | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.icon_label = QLabel()
        self.icon_label.setPixmap(pixmap(icon, EMPTY_STATE_ICON_SIZE, self.devicePixelRatioF()))
        self.heading_label = label(heading, wrap=False)
        self.heading_label.setFont(scaled_font(self.heading_label, HEADING_FONT_SCALE))
        self.text_label = muted(label(text))
        self.text_label.setMaximumWidth(TEXT_MAX_WIDTH)
        self.button: QPushButton | None = None

        for widget in (self.icon_label, self.heading_label, self.text_label):
            widget.setAlignment(Qt.AlignmentFlag.AlignHCenter)
        # A word-wrapped label only gets its full height when the layout sets its width, so the
        # sentence sits between stretches instead of using an alignment flag.
        text_row = QHBoxLayout()
        text_row.addStretch(1)
        text_row.addWidget(self.text_label, TEXT_STRETCH)
        text_row.addStretch(1)

        layout = vbox(margin=SPACE_XL, spacing=SPACE_S)
        layout.addStretch(1)
        layout.addWidget(self.icon_label, 0, Qt.AlignmentFlag.AlignHCenter)
        layout.addSpacing(SPACE_M)
        layout.addWidget(self.heading_label, 0, Qt.AlignmentFlag.AlignHCenter)
        layout.addLayout(text_row)
        if button_text:
            self.button = QPushButton(button_text)
            self.button.setDefault(True)
            layout.addSpacing(SPACE_M)
            layout.addWidget(self.button, 0, Qt.AlignmentFlag.AlignHCenter)
        layout.addStretch(1)
        self.setLayout(layout)
