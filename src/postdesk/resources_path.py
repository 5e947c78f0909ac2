"""Find Postdesk's bundled resources, whether run from source, installed, or frozen."""

from __future__ import annotations

import sys
from functools import cache
from pathlib import Path

_HERE = Path(__file__).resolve().parent
# A file only Postdesk's resources folder has, so an unrelated "resources" folder is never taken.
_MARKER = "postdesk.desktop"


def resource_path(name: str) -> Path:
    """The path of a bundled resource such as ``icons/postdesk-256.png``."""
    return _resources_root() / name


@cache
def _resources_root() -> Path:
    frozen = getattr(sys, "_MEIPASS", None)
    if frozen:
        # PyInstaller unpacks data files under the bundle directory, keeping the package layout.
        return Path(frozen) / "postdesk" / "resources"
    # Installed: the postdesk.resources package sits next to this module. From a source
    # checkout: the top-level resources/ folder, two levels up from src/postdesk/.
    for candidate in (_HERE / "resources", _HERE.parents[1] / "resources"):
        if (candidate / _MARKER).is_file():
            return candidate
    # Any other layout (e.g. an editable install moved elsewhere): ask the import system.
    # Imported here because importlib.resources costs start-up time the usual cases do not need.
    from importlib import resources

    return Path(str(resources.files("postdesk.resources")))
