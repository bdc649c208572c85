"""``python -m luq``: see ``luq.cli``."""

from luq.cli import main

raise SystemExit(main())
