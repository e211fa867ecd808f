"""``python -m amc_reports.local.sandbox``: same as ``amc-reports sandbox``."""

import sys

from amc_reports.local.sandbox.cli import main

sys.exit(main())
