"""``python -m bot`` is ``runbook-bot``."""

import sys

from bot.cli import main

sys.exit(main())
