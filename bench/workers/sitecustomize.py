"""Profiles run workers for `bench/backfill.py --profile-workers DIR` (never on a product path).

On PYTHONPATH of the benchmark's processes only, active when `AMC_BENCH_PROFILE_DIR` is set. Each
run worker runs under cProfile with a CPU clock and writes `<location>-worker-<pid>.prof`:

- a worker spawned by Dagster's code server (`--multiprocessing-fork` on its command line) from
  interpreter start, so its imports count;
- a worker forked by `amc-reports code-server`'s forkserver from the fork on (what it imported
  before, the forkserver paid once for all workers).
"""

import os
import sys

_out = os.environ.get("AMC_BENCH_PROFILE_DIR")


def _profiled(location_of, body):
    import cProfile
    import time

    profile = cProfile.Profile(time.process_time)
    profile.enable()
    try:
        return body()
    finally:
        profile.disable()
        name = f"{location_of()}-worker-{os.getpid()}.prof"
        profile.dump_stats(os.path.join(_out, name))


def _location() -> str:
    return "amc" if "amc_reports.definitions" in sys.modules else "bare"


def _cmdline() -> str:
    try:
        with open("/proc/self/cmdline", "rb") as f:
            return f.read().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


if _out and "--multiprocessing-fork" in sys.argv:
    import atexit
    import cProfile
    import time

    _profile = cProfile.Profile(time.process_time)

    def _dump() -> None:
        _profile.disable()
        _profile.dump_stats(os.path.join(_out, f"{_location()}-worker-{os.getpid()}.prof"))

    atexit.register(_dump)
    _profile.enable()
elif _out and "multiprocessing.forkserver" in _cmdline():
    import multiprocessing.forkserver as _forkserver

    _serve_one = _forkserver._serve_one

    def _profiled_serve_one(*args, **kwargs):
        return _profiled(_location, lambda: _serve_one(*args, **kwargs))

    _forkserver._serve_one = _profiled_serve_one
