"""``python -m gui`` is ``memprobe``."""

from gui.cli import main

raise SystemExit(main())
