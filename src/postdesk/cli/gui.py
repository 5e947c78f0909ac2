"""``postdesk gui``: start the window, or render it offscreen to a PNG.

Before Qt is loaded, a Linux start checks what Qt would otherwise end in an abort for: no display
at all (a server, an SSH session), or a library the X11 (xcb) platform plugin needs that is not
installed. Either is one line naming what works instead or which package to install.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from pathlib import Path

from postdesk.core.errors import UserError

NO_DISPLAY_EXIT = 2

# The libraries Qt's xcb platform plugin links (``ldd libqxcb.so``) that a minimal Debian/Ubuntu
# system may lack, and the package that brings each (scripts/lib.sh installs these and a few more
# the window may load at run time: QT_WINDOW_PACKAGES).
XCB_LIBRARIES = {
    "libxcb-cursor.so.0": "libxcb-cursor0",
    "libxkbcommon.so.0": "libxkbcommon0",
    "libxkbcommon-x11.so.0": "libxkbcommon-x11-0",
    "libxcb-icccm.so.4": "libxcb-icccm4",
    "libxcb-image.so.0": "libxcb-image0",
    "libxcb-keysyms.so.1": "libxcb-keysyms1",
    "libxcb-randr.so.0": "libxcb-randr0",
    "libxcb-render-util.so.0": "libxcb-render-util0",
    "libxcb-shape.so.0": "libxcb-shape0",
    "libxcb-xkb.so.1": "libxcb-xkb1",
    "libxcb-shm.so.0": "libxcb-shm0",
    "libxcb-sync.so.1": "libxcb-sync1",
    "libxcb-xfixes.so.0": "libxcb-xfixes0",
    "libxcb-render.so.0": "libxcb-render0",
    "libxcb-util.so.1": "libxcb-util1",
    "libxcb.so.1": "libxcb1",
    "libX11-xcb.so.1": "libx11-xcb1",
    "libX11.so.6": "libx11-6",
    "libEGL.so.1": "libegl1",
    "libGL.so.1": "libgl1",
    "libfontconfig.so.1": "libfontconfig1",
    "libfreetype.so.6": "libfreetype6",
    "libdbus-1.so.3": "libdbus-1-3",
    "libglib-2.0.so.0": "libglib2.0-0",
}
# Found in every glibc system's library folders: proves the folders below are the right ones.
_LAYOUT_WITNESS = "libc.so.6"
_LOAD_ERROR = re.compile(r"error while loading shared libraries: ([^:\s]+):")


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("gui", help="start the desktop window (the default)")
    parser.add_argument(
        "--screenshot", type=Path, metavar="PNG", help="render offscreen, save, exit"
    )
    parser.add_argument("--tab", metavar="TITLE", help="the tab to show in the screenshot")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    if args.screenshot is None:
        problem = display_problem(os.environ, sys.platform)
        if problem is not None:
            from postdesk.cli.output import fail

            return fail(problem, NO_DISPLAY_EXIT)
    from postdesk.gui.app import run_gui

    return run_gui(screenshot=args.screenshot, tab=args.tab)


def display_problem(env: os._Environ[str] | dict[str, str], platform: str) -> UserError | None:
    """Why the window cannot open here (None: let Qt try). Cheap: a few file checks."""
    if not platform.startswith("linux"):
        return None
    chosen = env.get("QT_QPA_PLATFORM", "").strip()
    if chosen and not chosen.startswith("xcb"):
        return None  # an explicit choice (offscreen, wayland, vnc, …) is the user's to make
    if not chosen and not env.get("DISPLAY") and not env.get("WAYLAND_DISPLAY"):
        return UserError(
            "gui.no_display",
            "No display was found (neither DISPLAY nor WAYLAND_DISPLAY is set), so the window "
            "cannot open here.",
            "Everything works from the command line: see 'postdesk --help'; "
            "'postdesk relay' runs the relay without a window.",
        )
    if not chosen and env.get("WAYLAND_DISPLAY"):
        return None  # Qt may use its Wayland plugin; the xcb libraries are not needed then
    missing = missing_xcb_libraries(env)
    if not missing:
        return None
    packages = sorted({XCB_LIBRARIES[lib] for lib in missing if lib in XCB_LIBRARIES})
    unknown = [lib for lib in missing if lib not in XCB_LIBRARIES]
    how = [f"sudo apt-get install {' '.join(packages)}"] if packages else []
    how += [f"install the package that provides {lib}" for lib in unknown]
    return UserError(
        "gui.qt_library_missing",
        f"The window cannot start: Qt's X11 plugin needs {', '.join(missing)}, "
        "which is not installed.",
        f"To fix it: {'; '.join(how)} (scripts/start installs what the window needs).",
    )


def missing_xcb_libraries(env: os._Environ[str] | dict[str, str]) -> list[str]:
    """The xcb plugin's libraries this system lacks (empty when unsure: Qt then decides)."""
    folders = _library_folders(env)
    if not any((folder / _LAYOUT_WITNESS).exists() for folder in folders):
        return []  # an unusual layout (NixOS, a bundle): not ours to judge
    absent = [
        lib for lib in XCB_LIBRARIES if not any(_is_library(folder / lib) for folder in folders)
    ]
    if not absent:
        return []
    # Only now pay for the dynamic loader's own answer (it also knows the plugin's RPATH).
    unresolved = _ldd_not_found()
    return absent if unresolved is None else sorted(unresolved)


def _is_library(path: Path) -> bool:
    return path.is_file() and path.stat().st_size > 0


def _library_folders(env: os._Environ[str] | dict[str, str]) -> list[Path]:
    import sysconfig

    arch = sysconfig.get_config_var("MULTIARCH") or ""
    folders = [p for p in env.get("LD_LIBRARY_PATH", "").split(":") if p]
    for root in ("/lib", "/usr/lib", "/lib64", "/usr/lib64", "/usr/local/lib"):
        folders.append(root)
        if arch:
            folders.append(f"{root}/{arch}")
    return [Path(p) for p in folders]


def _xcb_plugin() -> Path | None:
    import importlib.util

    spec = importlib.util.find_spec("PySide6")
    if spec is None or not spec.submodule_search_locations:
        return None
    plugin = Path(spec.submodule_search_locations[0]) / "Qt/plugins/platforms/libqxcb.so"
    return plugin if plugin.exists() else None


def _ldd_not_found() -> set[str] | None:
    """Libraries ``ldd`` cannot resolve for the xcb plugin (None when it cannot be asked)."""
    import subprocess

    plugin = _xcb_plugin()
    if plugin is None:
        return None
    try:
        done = subprocess.run(["ldd", str(plugin)], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    unresolved = {
        line.split()[0] for line in done.stdout.splitlines() if "not found" in line and line.split()
    }
    # A library that exists but cannot be loaded (damaged, emptied) stops ldd itself.
    broken = _LOAD_ERROR.search(done.stdout + done.stderr)
    if broken:
        unresolved.add(Path(broken.group(1)).name)
    return unresolved
