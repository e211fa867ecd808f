"""``python -m amc_reports.amc.sandbox``: same as ``amc-reports sandbox``."""

import sys

from amc_reports.amc.sandbox.cli import main

sys.exit(main())
