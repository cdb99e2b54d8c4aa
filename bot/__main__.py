"""`python -m bot` is `cmo-bot`."""

import sys

from bot.cli import main

sys.exit(main())
