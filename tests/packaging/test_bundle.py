"""The packaged Linux build: it builds from the checkout, and what a user downloads starts,
reports on itself and draws its window.

Runs packaging/build-linux (reusing dist/postdesk when it is newer than every source file), then
packaging/smoke-test against the unpacked tarball and the AppImage folder.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from postdesk import __version__
from support.services import need

ROOT = Path(__file__).resolve().parents[2]
BUNDLE = ROOT / "dist" / "postdesk" / "postdesk"
APPDIR = ROOT / "dist" / "Postdesk.AppDir"
TARBALL = ROOT / "dist" / f"postdesk-{__version__}-linux-{os.uname().machine}.tar.gz"
# Everything the bundle is made from; a change to any of them calls for a new build.
SOURCES = ("src", "resources", "packaging", "pyproject.toml", "setup.py")
BUILD_TIMEOUT_S = 1800  # a fresh build environment downloads Qt and PyInstaller first


def _newest_source_mtime() -> float:
    newest = 0.0
    for name in SOURCES:
        path = ROOT / name
        files = [path] if path.is_file() else path.rglob("*")
        for file in files:
            if file.is_file() and "__pycache__" not in file.parts:
                newest = max(newest, file.stat().st_mtime)
    return newest


def _built_and_current() -> bool:
    outputs = (BUNDLE, TARBALL, APPDIR / "AppRun")
    if not all(path.exists() for path in outputs):
        return False
    return min(path.stat().st_mtime for path in outputs) > _newest_source_mtime()


def _run(command: list[str], timeout: float, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        command,
        cwd=ROOT,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def _explain(done: subprocess.CompletedProcess[str]) -> str:
    # The last lines say what went wrong; the whole log would bury it.
    tail = "\n".join((done.stdout + done.stderr).splitlines()[-60:])
    return f"{done.args[0]} exited {done.returncode}:\n{tail}"


@pytest.fixture(scope="module")
def built() -> Path:
    """The Linux packages, built now unless the ones in dist/ are newer than the sources."""
    if not sys.platform.startswith("linux"):
        need("The Linux packaging", "packaging/build-linux builds on Linux only")
    if not _built_and_current():
        # The unpruned comparison build only reports sizes; the test needs the shipped one.
        done = _run(["bash", "packaging/build-linux"], BUILD_TIMEOUT_S, POSTDESK_COMPARE="0")
        assert done.returncode == 0, _explain(done)
    return ROOT / "dist"


def _smoke_test(executable: Path) -> None:
    done = _run(
        ["bash", "packaging/smoke-test", str(executable)],
        600,
        # In CI the X11 and keyring checks must run; elsewhere a missing tool is only noted.
        POSTDESK_SMOKE_STRICT="1" if os.environ.get("CI") else "0",
    )
    assert done.returncode == 0, _explain(done)
    assert "smoke test: all checks passed" in done.stdout


def test_downloaded_tarball_starts_reports_and_draws_its_window(
    built: Path, tmp_path: Path
) -> None:
    with tarfile.open(TARBALL) as archive:
        archive.extractall(tmp_path, filter="tar")
    _smoke_test(tmp_path / "postdesk" / "postdesk")


def test_appimage_folder_starts_postdesk(built: Path) -> None:
    apprun = APPDIR / "AppRun"
    done = _run([str(apprun), "--version"], 60)
    assert done.returncode == 0, _explain(done)
    assert done.stdout.strip() == f"Postdesk {__version__}"
    desktop = (APPDIR / "postdesk.desktop").read_text(encoding="utf-8")
    assert "Exec=postdesk" in desktop and "Icon=postdesk" in desktop
    assert (APPDIR / "postdesk.png").read_bytes().startswith(b"\x89PNG\r\n\x1a\n")


def test_bundle_leaves_out_the_qt_parts_postdesk_does_not_use(built: Path) -> None:
    qt = built / "postdesk" / "_internal" / "PySide6" / "Qt"
    libraries = {path.name.split(".so")[0] for path in (qt / "lib").iterdir()}
    for needed in ("libQt6Core", "libQt6Gui", "libQt6Widgets", "libQt6Charts", "libQt6Svg"):
        assert needed in libraries
    for unused in ("libQt6Qml", "libQt6Quick", "libQt6WebEngineCore", "libQt6Pdf", "libQt6Network"):
        assert unused not in libraries
    assert not (qt / "translations").exists()
    assert (qt / "plugins" / "platforms" / "libqxcb.so").exists()
    assert (qt / "plugins" / "platforms" / "libqwayland.so").exists()
    assert not (qt / "plugins" / "platforms" / "libqeglfs.so").exists()


def test_bundle_stays_within_its_size_budget_without_losing_parts(built: Path) -> None:
    internal = built / "postdesk" / "_internal"
    # As `du` counts it: each file once, a symbolic link as the link it is.
    files = [p for p in (built / "postdesk").rglob("*") if p.is_file() and not p.is_symlink()]
    size = sum(p.stat().st_size for p in files)
    assert size <= 120 * 1024 * 1024, f"the unpacked bundle is {size / 1048576:.1f} MiB"
    # ICU's data trimmed to English, the full code kept; OpenLDAP's stand-in instead of the real
    # library and the GnuTLS stack it would bring; the PostgreSQL driver's libpq still there.
    icu = next((internal / "PySide6" / "Qt" / "lib").glob("libicudata.so.*"))
    assert icu.stat().st_size < 8 * 1024 * 1024
    assert (internal / "libpq.so.5").exists()
    assert not list(internal.glob("libgnutls.so*"))
    assert not (internal / "psycopg_binary").exists()
