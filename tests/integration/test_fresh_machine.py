"""What a fresh machine needs: the scripts' package lists, and a start without a usable display.

Packages are installed with --no-install-recommends, so a tool's merely recommended modules never
arrive unless a list names them. These tests ask the installed system which package provides each
tool and library the suite and the window use, and check the scripts' lists name it.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from postdesk.cli import gui
from support.services import need

ROOT = Path(__file__).resolve().parents[2]
# The tools the suite starts for real, and the window's libraries, by what they are called here.
SUITE_TOOLS = ("swaks", "nsd", "gnome-keyring-daemon", "dbus-daemon", "secret-tool", "chattr")
WINDOW_LIBRARY_PREFIXES = ("libxcb", "libxkb", "libX11", "libEGL", "libGL.", "libfontconfig",
                           "libfreetype", "libdbus", "libglib")  # fmt: skip


def bash(script: str, **kwargs) -> subprocess.CompletedProcess:  # type: ignore[no-untyped-def]
    return subprocess.run(
        ["bash", "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=60, **kwargs
    )


def package_list(name: str) -> set[str]:
    done = bash(f'source scripts/lib.sh; printf "%s\\n" "${{{name}[@]}}"')
    assert done.returncode == 0, done.stderr
    return set(done.stdout.split())


def packages_of_test_script() -> set[str]:
    """Every package scripts/test installs (its install command run with a stand-in installer)."""
    done = bash(
        "source scripts/lib.sh\n"
        'install_debian_packages() { printf "%s\\n" "$@"; }\n'
        "eval \"$(sed -n '/^install_debian_packages/,/[^\\\\]$/p' scripts/test)\"\n"
    )
    assert done.returncode == 0, done.stderr
    return set(done.stdout.split())


def owning_package(path: str) -> str:
    """The Debian package that installed ``path`` (following symlinks, as dpkg records either)."""
    for candidate in dict.fromkeys([path, os.path.realpath(path)]):
        done = subprocess.run(["dpkg", "-S", candidate], capture_output=True, text=True)
        if done.returncode == 0:
            return done.stdout.split(":", 1)[0].split(",")[0].strip()
        usr = candidate.replace("/usr/lib/", "/lib/", 1)  # merged /usr: dpkg may know the other
        done = subprocess.run(["dpkg", "-S", usr], capture_output=True, text=True)
        if done.returncode == 0:
            return done.stdout.split(":", 1)[0].split(",")[0].strip()
    raise AssertionError(f"no package owns {path}")


@pytest.fixture
def debian() -> None:
    if not shutil.which("dpkg") or not shutil.which("apt-cache"):
        need("Debian's dpkg", "the package lists are for Debian and Ubuntu")


@pytest.mark.usefixtures("debian")
def test_swaks_can_speak_tls_with_what_the_test_script_installs() -> None:
    if not shutil.which("swaks"):
        need("swaks", "it is not installed (run scripts/test to install it)")
    support = subprocess.run(["swaks", "--support"], capture_output=True, text=True)
    assert "TLS supported" in support.stdout + support.stderr
    installed = packages_of_test_script()
    for module in ("Net::SSLeay", "IO::Socket::SSL"):
        done = subprocess.run(["perl", f"-M{module}", "-e1"], capture_output=True, text=True)
        assert done.returncode == 0, f"{module}: {done.stderr}"
        found = subprocess.run(
            ["perl", f"-M{module}", "-e", f"print $INC{{'{module.replace('::', '/')}.pm'}}"],
            capture_output=True,
            text=True,
        ).stdout
        assert owning_package(found) in installed, f"{module} ({found}) is not in scripts/test"


@pytest.mark.usefixtures("debian")
@pytest.mark.parametrize("tool", SUITE_TOOLS)
def test_every_tool_the_suite_runs_is_installed_by_the_test_script(tool: str) -> None:
    path = shutil.which(tool)
    if path is None:
        need(tool, "it is not installed (run scripts/test to install it)")
    assert owning_package(path) in packages_of_test_script()


@pytest.mark.usefixtures("debian")
def test_postgresql_server_comes_from_the_test_script() -> None:
    initdb = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
    if not initdb:
        need("PostgreSQL", "it is not installed (run scripts/test to install it)")
    # postgresql-NN is pulled in by the "postgresql" package the list names.
    assert "postgresql" in packages_of_test_script()
    assert owning_package(str(initdb[-1])).startswith("postgresql-")


@pytest.mark.usefixtures("debian")
def test_start_and_test_scripts_bring_what_the_window_needs() -> None:
    window = package_list("QT_WINDOW_PACKAGES")
    required = {
        "libxcb-cursor0", "libxkbcommon-x11-0", "libxcb-icccm4", "libxcb-image0",
        "libxcb-keysyms1", "libxcb-randr0", "libxcb-render-util0", "libxcb-shape0",
        "libxcb-xinerama0", "libxcb-xkb1", "libegl1", "libgl1", "libfontconfig1", "libdbus-1-3",
    }  # fmt: skip
    assert required <= window
    assert window <= packages_of_test_script()
    assert (
        'offer_debian_packages "${QT_WINDOW_PACKAGES[@]}"' in (ROOT / "scripts/start").read_text()
    )
    # What postdesk checks before starting Qt names only packages the start script installs.
    assert set(gui.XCB_LIBRARIES.values()) <= window
    # And what the plugin really links, here, comes from those packages.
    plugin = gui._xcb_plugin()
    if plugin is None:
        pytest.skip("PySide6's xcb plugin is not in this installation")
    linked = subprocess.run(["ldd", str(plugin)], capture_output=True, text=True).stdout
    for line in linked.splitlines():
        parts = line.split()
        if len(parts) >= 3 and parts[1] == "=>" and parts[0].startswith(WINDOW_LIBRARY_PREFIXES):
            assert owning_package(parts[2]) in window, line


def test_start_without_root_says_in_one_line_what_to_install() -> None:
    if os.geteuid() != 0 or not shutil.which("runuser"):
        need("runuser as root", "the check runs the start script's step as an ordinary user")
    done = subprocess.run(
        ["runuser", "-u", "nobody", "--", "bash", "-c",
         "source scripts/lib.sh; offer_debian_packages libc6 postdesk-no-such-package; echo ran"],
        cwd=ROOT, capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=60,
    )  # fmt: skip
    assert done.returncode == 0 and done.stdout.strip() == "ran", done.stderr
    (line,) = done.stderr.strip().splitlines()
    assert "postdesk-no-such-package" in line and "libc6" not in line


# --- the window without a display -------------------------------------------------------------


def postdesk(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "postdesk", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def without_display() -> dict[str, str]:
    hidden = ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM")
    return {k: v for k, v in os.environ.items() if k not in hidden}


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="a Linux start check")
@pytest.mark.parametrize("args", [(), ("gui",)], ids=["postdesk", "postdesk gui"])
def test_no_display_is_one_line_naming_what_works(args: tuple[str, ...]) -> None:
    done = postdesk(*args, env=without_display())
    assert done.returncode == 2
    (line,) = done.stderr.strip().splitlines()
    assert "No display was found" in line
    assert "command line" in line and "postdesk relay" in line
    assert "qt.qpa" not in done.stderr and "Traceback" not in done.stderr


def test_screenshot_needs_no_display(tmp_path: Path) -> None:
    png = tmp_path / "window.png"
    done = postdesk("gui", "--screenshot", str(png), env=without_display())
    assert done.returncode == 0, done.stderr
    assert png.stat().st_size > 0


def test_missing_xcb_library_names_the_package_to_install() -> None:
    """libxcb-cursor0 made unloadable for one process (a private mount namespace)."""
    if os.geteuid() != 0 or not shutil.which("unshare"):
        need("unshare as root", "hiding a library needs a private mount namespace")
    plugin = gui._xcb_plugin()
    if plugin is None:
        pytest.skip("PySide6's xcb plugin is not in this installation")
    linked = subprocess.run(["ldd", str(plugin)], capture_output=True, text=True).stdout
    cursor = next(
        (p.split()[2] for p in linked.splitlines() if p.split()[:1] == ["libxcb-cursor.so.0"]),
        None,
    )
    if cursor is None or "not found" in cursor:
        need("libxcb-cursor0", "it is not installed (run scripts/start or scripts/test)")
    env = without_display() | {"DISPLAY": ":99"}  # never reached: the check comes first
    done = subprocess.run(
        ["unshare", "-m", "sh", "-c",
         f'mount --bind /dev/null "{cursor}" && exec "$0" -m postdesk', sys.executable],
        env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 2, done.stderr
    (line,) = done.stderr.strip().splitlines()
    assert "libxcb-cursor.so.0" in line and "apt-get install libxcb-cursor0" in line
    assert "qt.qpa" not in done.stderr


def test_doctor_reports_the_missing_display() -> None:
    done = postdesk("doctor", "--json", env=without_display())
    assert "Traceback" not in done.stderr
    report = json.loads(done.stdout)
    assert report["display"].startswith("PROBLEM") and "No display" in report["display"]
