"""Shared test set-up: Qt offscreen, isolated data dirs, and the real-service plugins."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
pytest.register_assert_rewrite("support")

# Every module in tests/support/ is a plugin of fixtures (real services, sample data).
pytest_plugins = sorted(
    f"support.{p.stem}"
    for p in (Path(__file__).parent / "support").glob("*.py")
    if p.stem != "__init__"
)
