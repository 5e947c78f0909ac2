"""The window until it is usable, whole process, against a bare PySide6 window.

What a user waits for is not the first paint of an empty frame but the window usable: the tab on
screen built with the workspace's data shown, and every other tab's button there (each of those
pages is built when first shown, or right after start). `postdesk gui --screenshot` waits for
exactly that and then saves the window to a PNG; the peer is a bare PySide6 script that shows a
QMainWindow and saves it to a PNG the same way. Each is a whole process started from scratch;
the time until its PNG is written (the window usable) is the figure, and the time until the
process has exited (tearing the window down, which no user waits for) is printed beside it.
Both offscreen, run interleaved (A B A B …) after a warm-up; medians of time, of peak memory
(RSS) and of CPU time (user + system, until exit) per process. CPU time moves much less with the
machine's load than the times on the clock, so its ratio is the steadier one on a busy machine.

Postdesk workspaces: empty, one holding domains, services and a year of usage (both already
created, as on every start but the first: the first tab is read with sqlite3 and SQLAlchemy
loads after the window is usable), and a first start, where the workspace is created (the full
store path) in a new folder on each run.

    .venv/bin/python benchmarks/bench_gui_start.py [--runs 9] [--compare SRC]

``--compare SRC`` adds the two usable-window rows for another source tree, interleaved in the
same run, for a before/after: ``git archive REV src resources | tar -x -C DIR`` and then
``--compare DIR/src`` (with its resources beside it, as in a checkout).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BARE = """
import sys
from PySide6.QtWidgets import QApplication, QMainWindow
app = QApplication(sys.argv[:1])
window = QMainWindow()
window.resize(1100, 720)
window.show()
app.processEvents()
window.grab().save(sys.argv[1])
"""

FILL = """
import datetime as dt
from postdesk.core.store import open_store
from postdesk.core.store.models import DailyUsage, DedicatedDomain, SmtpService
store = open_store()
today = dt.datetime.now(dt.UTC).date()
with store.session() as s:
    for i in range(3):
        s.add(SmtpService(name=f"Provider {i}", host=f"smtp{i}.example.net", port=587,
                          security="starttls", username="apikey", secret_ref=f"none-{i}"))
    s.flush()
    for i in range(8):
        s.add(DedicatedDomain(name=f"shop{i}.example", ownership_token="t",
                              status="verified" if i % 2 else "pending", service_id=1))
    s.flush()
    for day in range(365):
        s.add(DailyUsage(day=today - dt.timedelta(days=day), bucket="service:1",
                         domain_id=1, service_id=1, sent=(day * 37) % 1400))
"""
FIRST_START = "Postdesk usable, first start (new workspace)"


def _run(argv: list[str], env: dict[str, str], shot: str) -> tuple[float, float, float, float]:
    """Seconds until the window was usable (its PNG written), seconds until the process ended,
    the process's own peak memory (MiB) and its CPU seconds (user + system, until it ended)."""
    Path(shot).unlink(missing_ok=True)
    wall = time.time()
    start = time.perf_counter()
    process = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(process.pid, 0)
    elapsed = time.perf_counter() - start
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        error = process.stderr.read().decode() if process.stderr else ""
        raise SystemExit(f"{argv[1:3]} failed ({process.returncode}): {error[-2000:]}")
    usable = os.stat(shot).st_mtime - wall
    return usable, elapsed, usage.ru_maxrss / 1024, usage.ru_utime + usage.ru_stime


def _workspace(fill: bool) -> dict[str, str]:
    env = {
        **os.environ,
        "QT_QPA_PLATFORM": "offscreen",
        "POSTDESK_HOME": tempfile.mkdtemp(prefix="postdesk-bench-"),
    }
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # as installed: bytecode cached
    if fill:
        subprocess.run([sys.executable, "-c", FILL], env=env, check=True)
    return env


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=9)
    parser.add_argument(
        "--compare", type=Path, metavar="SRC", help="also time the window from this source tree"
    )
    args = parser.parse_args()
    shot = str(Path(tempfile.mkdtemp()) / "window.png")
    cases = {
        "bare PySide6 window shown and saved": (
            [sys.executable, "-c", BARE, shot],
            _workspace(False),
        ),
        "Postdesk usable, empty workspace": (
            [sys.executable, "-m", "postdesk", "gui", "--screenshot", shot],
            _workspace(False),
        ),
        "Postdesk usable, workspace with data": (
            [sys.executable, "-m", "postdesk", "gui", "--screenshot", shot],
            _workspace(True),
        ),
        FIRST_START: (
            [sys.executable, "-m", "postdesk", "gui", "--screenshot", shot],
            _workspace(False),
        ),
    }
    if args.compare is not None:
        other = str(args.compare.absolute())
        for name in ("empty workspace", "workspace with data"):  # the same workspaces
            env = {**cases[f"Postdesk usable, {name}"][1], "PYTHONPATH": other}
            cases[f"--compare usable, {name}"] = (cases[FIRST_START][0], env)
    for argv, env in cases.values():  # warm-up: page cache, bytecode, first migration
        _run(argv, env, shot)
    usable: dict[str, list[float]] = {name: [] for name in cases}
    whole: dict[str, list[float]] = {name: [] for name in cases}
    peaks: dict[str, list[float]] = {name: [] for name in cases}
    cpus: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(args.runs):
        for name, (argv, env) in cases.items():
            if name == FIRST_START:  # a new folder: the workspace is created on this run
                env["POSTDESK_HOME"] = tempfile.mkdtemp(prefix="postdesk-bench-")
            ready, elapsed, peak, cpu = _run(argv, env, shot)
            usable[name].append(ready)
            whole[name].append(elapsed)
            peaks[name].append(peak)
            cpus[name].append(cpu)
    bare = next(iter(cases))
    base_u, base_t = statistics.median(usable[bare]), statistics.median(whole[bare])
    base_m, base_c = statistics.median(peaks[bare]), statistics.median(cpus[bare])
    print(
        f"window usable (its PNG written) and whole process (until exit), offscreen; medians "
        f"of {args.runs} interleaved runs"
    )
    print(
        f"  {'':44} {'usable':>8} {'×':>6} {'exit':>8} {'×':>6} {'peak RSS':>10} {'×':>6} "
        f"{'CPU':>8} {'×':>6}"
    )
    for name in cases:
        u, t = statistics.median(usable[name]), statistics.median(whole[name])
        m, c = statistics.median(peaks[name]), statistics.median(cpus[name])
        print(
            f"  {name:44} {u * 1000:6.0f}ms {u / base_u:5.2f}x {t * 1000:6.0f}ms "
            f"{t / base_t:5.2f}x {m:7.1f}MiB {m / base_m:5.2f}x "
            f"{c * 1000:6.0f}ms {c / base_c:5.2f}x"
        )
    print("  target: at most 2x the bare window in time (until usable) and in memory")
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"  load average at the end (1, 5, 15 min): {load}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
