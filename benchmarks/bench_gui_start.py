"""GUI start to first painted window, whole process, against a bare PySide6 window.

Both processes create a QApplication, show a window, paint it once and quit (offscreen). Postdesk's
runs the same start-up path as `postdesk gui` up to the first paint (the workspace, asyncio and
qasync load after it). Prints medians, peak memory and the ratio.

    .venv/bin/python benchmarks/bench_gui_start.py [--runs 15]
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time

BARE = """
import sys
from PySide6.QtWidgets import QApplication, QMainWindow
app = QApplication(sys.argv[:1])
window = QMainWindow()
window.resize(1100, 720)
window.show()
app.processEvents()
"""

POSTDESK = """
from postdesk.gui.app import _application
from postdesk.gui.mainwindow import MainWindow
app = _application()
window = MainWindow(build_pages=False)  # as `postdesk gui` does until the first paint
window.show()
app.processEvents()
"""


def _run(code: str, env: dict[str, str]) -> tuple[float, float]:
    """Wall time (s) and peak memory (MiB) of one whole process."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], env=env, check=True, capture_output=True)
    elapsed = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return elapsed, max(peak, before) / 1024


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    env = {
        **os.environ,
        "QT_QPA_PLATFORM": "offscreen",
        "POSTDESK_HOME": tempfile.mkdtemp(prefix="postdesk-bench-"),
    }
    for code in (BARE, POSTDESK):  # warm the page cache
        _run(code, env)
    bare, ours = [], []
    for _ in range(args.runs):  # interleaved, so machine noise hits both alike
        bare.append(_run(BARE, env)[0])
        ours.append(_run(POSTDESK, env)[0])
    bare_ms, ours_ms = statistics.median(bare) * 1000, statistics.median(ours) * 1000
    print(f"start to first paint and quit, whole process, offscreen, {args.runs} runs each")
    print(f"  bare PySide6 window  median {bare_ms:6.0f} ms")
    print(f"  Postdesk window      median {ours_ms:6.0f} ms")
    print(f"  ratio: {ours_ms / bare_ms:.2f}x (target: at most 1.5x)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
