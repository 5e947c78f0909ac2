"""Print what the build environment needs, one requirement a line, from pyproject.toml.

Postdesk's dependencies plus the "postgres" extra (a packaged build can then use a shared
database too), the "relay" extra if there is one, and the build tools. The "pyside6" meta package
is replaced by the two wheels Postdesk uses, PySide6_Essentials and PySide6_Addons: the meta
package would also download QtWebEngine and QtPdf (hundreds of MB) that the bundle leaves out
anyway. The builders install the meta package afterwards without dependencies, only so
`postdesk doctor` can report its version.

Usage: python packaging/build_requirements.py [pyproject.toml]
"""

from __future__ import annotations

import re
import sys
import tomllib
from pathlib import Path

BUILD_TOOLS = ["pyinstaller>=6.10", "pillow>=10"]  # pillow: makes the .ico / .icns app icons


def requirements(pyproject: Path) -> list[str]:
    """The build environment's requirements, PySide6 split into the wheels Postdesk uses."""
    project = tomllib.loads(pyproject.read_text(encoding="utf-8"))["project"]
    extras = project.get("optional-dependencies", {})
    wanted = [*project["dependencies"], *extras.get("postgres", []), *extras.get("relay", [])]
    result = list(BUILD_TOOLS)
    for requirement in wanted:
        name = re.split(r"[\s\[<>=!~;]", requirement, maxsplit=1)[0]
        if name.lower() == "pyside6":
            rest = requirement[len(name) :]
            result += [f"PySide6_Essentials{rest}", f"PySide6_Addons{rest}"]
        else:
            result.append(requirement)
    return result


if __name__ == "__main__":
    default = Path(__file__).resolve().parents[1] / "pyproject.toml"
    print("\n".join(requirements(Path(sys.argv[1]) if len(sys.argv) > 1 else default)))
