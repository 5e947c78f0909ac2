"""Small helpers for building widgets in code: spacing constants, layouts, fonts and icons."""

from __future__ import annotations

from functools import cache
from typing import TypeVar

from PySide6.QtCore import Qt
from PySide6.QtGui import QFont, QIcon, QPalette, QPixmap
from PySide6.QtWidgets import (
    QBoxLayout,
    QHBoxLayout,
    QLabel,
    QLayout,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from postdesk.resources_path import resource_path

# Spacing, in device-independent pixels. Every margin and gap in the GUI comes from here.
SPACE_XS = 4
SPACE_S = 8
SPACE_M = 12
SPACE_L = 20
SPACE_XL = 32

PAGE_MARGIN = SPACE_L
# Page titles and empty-state headings are scaled from the application font, so they follow the
# user's font size setting.
TITLE_FONT_SCALE = 1.5
HEADING_FONT_SCALE = 1.15
EMPTY_STATE_ICON_SIZE = 64
APP_ICON = "icons/postdesk-256.png"

_Layout = TypeVar("_Layout", bound=QBoxLayout)


def vbox(*items: QWidget | QLayout | int, margin: int = 0, spacing: int = SPACE_S) -> QVBoxLayout:
    """A vertical layout of widgets, layouts and (for an int) fixed gaps."""
    return _fill(QVBoxLayout(), items, margin, spacing)


def hbox(*items: QWidget | QLayout | int, margin: int = 0, spacing: int = SPACE_S) -> QHBoxLayout:
    """A horizontal layout of widgets, layouts and (for an int) fixed gaps."""
    return _fill(QHBoxLayout(), items, margin, spacing)


def _fill(layout: _Layout, items: tuple, margin: int, spacing: int) -> _Layout:
    layout.setContentsMargins(margin, margin, margin, margin)
    layout.setSpacing(spacing)
    for item in items:
        if isinstance(item, QLayout):
            layout.addLayout(item)
        elif isinstance(item, int):
            layout.addSpacing(item)
        else:
            layout.addWidget(item)
    return layout


def scaled_font(
    widget: QWidget, scale: float, weight: QFont.Weight = QFont.Weight.DemiBold
) -> QFont:
    """The widget's font, made bigger by ``scale`` and set in ``weight``."""
    font = QFont(widget.font())
    font.setPointSizeF(font.pointSizeF() * scale)
    font.setWeight(weight)
    return font


def label(text: str = "", *, wrap: bool = True, selectable: bool = False) -> QLabel:
    """A plain-text label, word-wrapped by default."""
    widget = QLabel(text)
    widget.setTextFormat(Qt.TextFormat.PlainText)
    widget.setWordWrap(wrap)
    if selectable:
        widget.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    return widget


def muted(widget: QLabel) -> QLabel:
    """Render a label in the palette's secondary text colour (works in light and dark themes)."""
    palette = widget.palette()
    colour = palette.color(QPalette.ColorRole.PlaceholderText)
    palette.setColor(QPalette.ColorRole.WindowText, colour)
    widget.setPalette(palette)
    return widget


def make_default(button: QPushButton) -> None:
    """Make ``button`` the one Enter presses in its dialog.

    Call it once the button is inside the dialog (after ``setLayout``): a button made default
    while it has no dialog yet is forgotten, and Qt then lets Enter press the first auto-default
    button it finds, often Cancel.
    """
    button.setAutoDefault(True)
    button.setDefault(True)


@cache
def app_icon() -> QIcon:
    """Postdesk's window icon, from the PNG so QtSvg is not loaded at start-up."""
    return QIcon(str(resource_path(APP_ICON)))


def pixmap(name: str, size: int, device_pixel_ratio: float = 1.0) -> QPixmap:
    """A bundled PNG scaled to ``size`` logical pixels, sharp on high-DPI screens."""
    physical = round(size * device_pixel_ratio)
    image = QPixmap(str(resource_path(name)))
    scaled = image.scaled(
        physical,
        physical,
        Qt.AspectRatioMode.KeepAspectRatio,
        Qt.TransformationMode.SmoothTransformation,
    )
    scaled.setDevicePixelRatio(device_pixel_ratio)
    return scaled
