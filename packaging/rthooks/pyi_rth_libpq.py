# PyInstaller runtime hook: psycopg (pure Python) finds libpq with ctypes.util.find_library,
# which only searches the system. The Linux bundle carries its own libpq: point psycopg at it.
import os
import sys

_BUNDLED_LIBPQ = os.path.join(getattr(sys, "_MEIPASS", ""), "libpq.so.5")

if os.path.exists(_BUNDLED_LIBPQ):
    import ctypes.util

    _system_find_library = ctypes.util.find_library

    def _find_library(name):
        return _BUNDLED_LIBPQ if name == "pq" else _system_find_library(name)

    ctypes.util.find_library = _find_library
    os.environ.setdefault("PSYCOPG_IMPL", "python")
