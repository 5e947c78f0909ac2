"""A smaller ICU data library for the Linux bundle.

Qt's wheels ship ICU's full data (``libicudata.so.NN``, about 30 MiB: every locale's names,
collations, units, transliterators and about 200 legacy character converters). Qt uses only a
little of it; Postdesk's text is English and Python, not Qt, decodes mail. This keeps the root and
English locales, the non-locale tables (time zones, plural rules, likely subtags, the Unicode
collation table) and the Latin converters, and rebuilds the library with the same soname and
data symbol. What is lost: other locales' collation order (they fall back to the root order),
ICU's break iterators and display names (Qt uses its own) and Qt codecs such as Shift_JIS.

Needs ICU's tools (Debian ``icu-devtools``: icupkg, genccode) and a C compiler; without them the
spec keeps the full library and says so.

    python packaging/trim_icu.py LIBICUDATA OUT_DIR     # prints the path of the new library
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

LOCALE_FILE = re.compile(r"^[a-z]{2,3}(_[A-Za-z0-9]*)*\.res$")
KEEP_LOCALES = {"en.res", "en_US.res", "en_US_POSIX.res", "en_001.res", "en_GB.res"}
# ISO 8859-1/2/5/7/9/15 and windows-1252: the Latin scripts' legacy mail encodings.
KEEP_CONVERTERS = {
    "ibm-5348_P100-1997.cnv",
    "ibm-912_P100-1995.cnv",
    "ibm-913_P100-2000.cnv",
    "ibm-914_P100-1995.cnv",
    "ibm-915_P100-1995.cnv",
    "ibm-5346_P100-1998.cnv",
}
TOOLS = ("icupkg", "genccode", "readelf", "cc")


def _dropped(item: str) -> bool:
    name = item.rsplit("/", 1)[-1]
    # Qt breaks text with its own Unicode tables, never with ICU's break iterators, and shows
    # no names from ICU's locale data (it has its own), so those trees go whole.
    if item.split("/")[0] in ("translit", "brkitr", "lang", "region", "curr", "unit", "zone"):
        return True
    if name == "unames.icu":
        return True
    if name.endswith(".cnv"):
        return name not in KEEP_CONVERTERS
    return bool(LOCALE_FILE.match(name)) and name not in KEEP_LOCALES


def _data_symbol(library: Path) -> tuple[str, int, int]:
    """The ICU data symbol (e.g. icudt73_dat), its file offset and its size."""
    symbols = subprocess.run(
        ["readelf", "-Ws", str(library)], capture_output=True, text=True, check=True
    ).stdout
    found = re.search(
        r"\s0*([0-9a-f]+)\s+(0x[0-9a-f]+|\d+)\s+OBJECT\s.*\s(icudt\d+_dat)$", symbols, re.M
    )
    if found is None:
        raise RuntimeError(f"no ICU data symbol in {library}")
    address, size, name = int(found.group(1), 16), int(found.group(2), 0), found.group(3)
    sections = subprocess.run(
        ["readelf", "-SW", str(library)], capture_output=True, text=True, check=True
    ).stdout
    # Address → file offset through the section that holds it (.rodata).
    for line in sections.splitlines():
        parts = line.split("]")[-1].split()
        if len(parts) >= 5 and parts[1] == "PROGBITS":
            start, offset, length = int(parts[2], 16), int(parts[3], 16), int(parts[4], 16)
            if start <= address < start + length:
                return name, address - start + offset, size
    raise RuntimeError(f"the ICU data of {library} is in no section")


def trim(library: Path, out_dir: Path) -> Path:
    """Build the smaller library in ``out_dir``; returns its path (same file name)."""
    missing = [tool for tool in TOOLS if shutil.which(tool) is None]
    if missing:
        raise RuntimeError("missing tools: " + ", ".join(missing))
    symbol, offset, size = _data_symbol(library)
    entry = symbol.removesuffix("_dat")  # icudt73
    package = f"{entry}l"  # little-endian package name, as inside the data
    out_dir.mkdir(parents=True, exist_ok=True)
    full, small = out_dir / "full", out_dir / "small"
    for folder in (full, small):
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir()
    data = library.read_bytes()[offset : offset + size]
    (full / f"{package}.dat").write_bytes(data)
    items = subprocess.run(
        ["icupkg", "-l", f"{package}.dat"], cwd=full, capture_output=True, text=True, check=True
    ).stdout.split()
    (out_dir / "drop.txt").write_text("\n".join(i for i in items if _dropped(i)) + "\n")
    subprocess.run(
        [
            "icupkg",
            "-r",
            str(out_dir / "drop.txt"),
            str(full / f"{package}.dat"),
            str(small / f"{package}.dat"),
        ],
        check=True,
        capture_output=True,
    )
    subprocess.run(
        ["genccode", "-e", entry, "-a", "gcc", "-d", ".", f"{package}.dat"],
        cwd=small,
        check=True,
        capture_output=True,
    )
    target = out_dir / library.name
    subprocess.run(
        [
            "cc",
            "-shared",
            "-nostdlib",
            f"-Wl,-soname,{library.name}",
            "-o",
            str(target),
            str(small / f"{package}_dat.S"),
        ],
        check=True,
        capture_output=True,
    )
    return target


if __name__ == "__main__":
    print(trim(Path(sys.argv[1]), Path(sys.argv[2])))
