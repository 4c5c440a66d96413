"""``python -m engine.emissions FILE [--json]``."""

import sys

from engine.emissions.cli import main

sys.exit(main())
