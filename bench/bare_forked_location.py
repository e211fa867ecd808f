"""The bare anchor served by `amc-reports code-server` (see `bare_location.py`)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bare_location import BARE_FORKED_POOL, bare_definitions  # noqa: E402

defs = bare_definitions("bare_sleep_forked", BARE_FORKED_POOL)
