"""The Compose deployment, really run (`make test-deploy`): Docker, a Debian base image, the
product image, Postgres, the code location, the webserver and the daemon, each run in its own
container.

`make test-deploy` installs what they need (Debian's `docker.io`, `docker-compose`, `debootstrap`)
and sets AMC_REPORTS_DEPLOY_TESTS=1. Without it (a plain `pytest`, `make test`) nothing here is
collected: the rest of the suite needs neither Docker nor root.

Environment:
- AMC_REPORTS_DEPLOY_TESTS: set to run these tests.
- AMC_REPORTS_DEPLOY_CACHE: where the debootstrapped base and the wheelhouse are kept between runs
  (default `.amc_reports/test-deploy/`, gitignored).
- AMC_REPORTS_DEPLOY_ARTIFACTS: where the services' logs go (default `test-artifacts/deploy/`).
"""

from __future__ import annotations

import os

DEPLOY_TESTS_ENV = "AMC_REPORTS_DEPLOY_TESTS"

if not os.environ.get(DEPLOY_TESTS_ENV, "").strip():
    collect_ignore_glob = ["test_*.py"]
