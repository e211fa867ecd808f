"""Imported by the run-worker forkserver of `amc-reports code-server`: loads the code location.

A forkserver's preload is a list of modules to import; importing this one is how it gets the code
location's definitions built before it forks run workers (see `amc_reports.code_server`).
"""

from amc_reports.code_server import preload_location

preload_location()
