import sys

if getattr(sys, "frozen", False):  # a packaged build: its helper processes start here too
    import multiprocessing

    multiprocessing.freeze_support()

from postdesk.cli import main

raise SystemExit(main())
