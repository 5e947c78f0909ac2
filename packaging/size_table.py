"""Print what a one-folder bundle is made of: unpacked size per component, largest first.

python packaging/size_table.py dist/postdesk
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

# (component, pattern on the path inside _internal/), first match wins.
COMPONENTS = [
    ("ICU data (Qt)", r"PySide6/Qt/lib/libicudata"),
    ("ICU code (Qt)", r"PySide6/Qt/lib/libicu"),
    ("Qt libraries", r"PySide6/Qt/lib/"),
    ("Qt plugins", r"PySide6/Qt/plugins/"),
    ("PySide6 bindings", r"PySide6/|shiboken6/"),
    ("cryptography (OpenSSL inside)", r"cryptography"),
    (
        "PostgreSQL driver (libpq, Kerberos)",
        r"psycopg|libpq|libgssapi|libkrb5|libk5crypto|libcom_err|libkeyutils|libldap",
    ),
    ("Python and its standard library", r"libpython|python3\.\d+/|base_library\.zip"),
    ("OpenSSL (Python's ssl)", r"libssl|libcrypto"),
    ("X11 / Wayland / GL / fonts (system)", r"lib(X|xcb|wayland|EGL|GL|fontconfig|freetype|xkb)"),
    ("other system libraries", r"^[^/]+\.so"),
    ("Python packages (compiled)", r"\.so$"),
    ("Postdesk and pure-Python packages", r"."),
]


def table(bundle: Path) -> list[tuple[str, int]]:
    """(component, bytes) for every component, largest first."""
    sizes = dict.fromkeys((name for name, _ in COMPONENTS), 0)
    root = bundle / "_internal" if (bundle / "_internal").is_dir() else bundle
    for path in bundle.rglob("*"):
        if not path.is_file() or path.is_symlink():
            continue
        inside = path.relative_to(root).as_posix() if path.is_relative_to(root) else path.name
        name = next(n for n, pattern in COMPONENTS if re.search(pattern, inside))
        sizes[name] += path.stat().st_size
    return sorted(sizes.items(), key=lambda item: -item[1])


def main(argv: list[str]) -> int:
    rows = table(Path(argv[0]))
    total = sum(size for _, size in rows)
    print(f"{'component':40} {'MiB':>8} {'share':>7}")
    for name, size in rows:
        if size:
            print(f"{name:40} {size / 1048576:8.1f} {size / total:7.1%}")
    print(f"{'total':40} {total / 1048576:8.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
