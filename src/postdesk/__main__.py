from postdesk.cli import main

raise SystemExit(main())
