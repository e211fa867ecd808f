"""The rules of the reports file that are not types: names, ids, bounds, time zones (pure).

Each bound says why it is what it is; the schema (`schema.py`) applies them, and the messages quote
them, so an analyst reads the same rule in the editor, in `validate-config` and in the docs.
"""

from __future__ import annotations

import re
from datetime import date
from functools import cache
from zoneinfo import ZoneInfo, available_timezones

# Names become Postgres table names, Dagster asset keys, job and pool names: keep them boring.
SAFE_NAME = re.compile(r"[a-z][a-z0-9_]{0,59}")
SAFE_NAME_RULE = f"{SAFE_NAME.pattern} (lowercase letters, digits and _, starting with a letter)"
# Owners as Dagster accepts them (dagster._core.definitions.utils.is_valid_owner): an e-mail
# address or `team:<name>`. Checked with fullmatch: `re.match` + `$` would accept "a@b.io\n".
OWNER = re.compile(r"team:[A-Za-z0-9_.\-]+|\b[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,7}\b")
OWNER_RULE = "an e-mail address (name@example.com) or 'team:<name>'"
# AMC ids end up in URL paths and HTTP headers: letters, digits and . _ - only.
AMC_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.\-]{0,127}")
AMC_ID_RULE = "an AMC id (letters, digits, '.', '_' or '-'; up to 128 characters)"
# Column names of a result as the warehouse stores them; parameter names usable in templates.
IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,62}")

REGIONS = ("NA", "EU", "FE")
WEEK_STARTS = {"sunday": 6, "monday": 0}  # Python weekday() numbers
# AMC runs at most this many executions of one instance at once (more are queued by AMC), and this
# many over all the instances of one account.
AMC_MAX_RUNNING_PER_INSTANCE = 10
AMC_MAX_RUNNING_PER_ACCOUNT = 200

# Start dates: AMC keeps a rolling 13 months of data and opened to advertisers well after 2018, so
# no instance has data before EARLIEST_START; LATEST_START keeps every date the collection computes
# from a week (its end, lag, template offsets) far from year 9999, where date arithmetic overflows.
EARLIEST_START = date(2018, 1, 1)
LATEST_START = date(2099, 12, 31)

DEFAULT_PROFILE = "default"

# Time zones that exist as files but are not places AMC or a reader would mean.
_NOT_PLACES = frozenset({"localtime", "posixrules", "Factory"})


@cache
def time_zones() -> frozenset[str]:
    """IANA time zone names this machine knows (folders such as `America` are not zones)."""
    return frozenset(available_timezones() - _NOT_PLACES)


def is_time_zone(name: str) -> bool:
    if name not in time_zones():
        return False
    try:
        ZoneInfo(name)
    except (OSError, ValueError):
        return False
    return True
