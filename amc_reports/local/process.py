"""A detached local process, done once: lock file, spawn, liveness, terminate, idle stop.

The local services (the AMC sandbox, the embedded PostgreSQL and its idle reaper) are started by
whichever process needs them first and must outlive it; the run launcher checks that a run worker
still exists. They all need the same few things, which live here:

- `exclusive_lock(path)`: an `flock` on a lock file, serialising processes (and threads) that start,
  register with or stop a service; it dies with its holder, so a crash never leaves it stuck.
- `spawn_detached(command, log_path=...)`: a child in its own session (it outlives this process and
  ignores the terminal's signals), stdin from /dev/null, output appended to a log file, no
  inherited file descriptors; reaped once it exits, so it never lingers as a zombie of ours.
- `is_alive(pid, started=...)` and `ProcessRef`: liveness of a pid, or of a (pid, start time) pair,
  which a recycled pid or a zombie does not pass.
- `terminate(pid, timeout=...)`: SIGTERM, then SIGKILL past the deadline.
- `IdleClock`: when a service unused for its idle time is due to stop.
- `service_environment()`: the allow-listed environment a local service is started with (what
  runs Python and where things are; never the product's database URL, notification URLs or
  credentials).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import signal
import subprocess
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import psutil

LOG_ROTATE_BYTES = 20 * 1024 * 1024  # a log past this size is moved to <name>.1 before a spawn
SAME_START_SECONDS = 0.5  # two start times of one process agree within this (clock tick rounding)
STARTED_BY_SLACK_SECONDS = 1.0  # slack when checking that a process already existed at a time
KILL_WAIT_SECONDS = 5.0  # how long to wait for a process to vanish after SIGKILL
POLL_SECONDS = 0.05

# Children spawned by this process, kept so that they are reaped (waited for) once they exit.
_children: dict[int, subprocess.Popen] = {}


class LockTimeout(TimeoutError):
    """Another process kept the lock file past the deadline."""

    def __init__(self, path: Path, timeout: float) -> None:
        super().__init__(f"timed out after {timeout:.0f}s waiting for the lock {path}")
        self.path = path
        self.timeout = timeout


@contextlib.contextmanager
def exclusive_lock(path: Path, *, timeout: float | None = None) -> Iterator[None]:
    """Hold an exclusive lock on the file ``path`` (created with its folder) for the block.

    ``timeout=None`` waits as long as it takes; otherwise `LockTimeout` once ``timeout`` seconds
    have passed (``0``: try once). Every entry opens the file anew, so two threads of one process
    exclude each other too.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_CREAT | os.O_RDWR, 0o644)
    try:
        if timeout is None:
            fcntl.flock(fd, fcntl.LOCK_EX)
        else:
            deadline = time.monotonic() + timeout
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except OSError:
                    if time.monotonic() >= deadline:
                        raise LockTimeout(path, timeout) from None
                    time.sleep(POLL_SECONDS)  # polling the lock with a deadline
        try:
            yield
        finally:
            with contextlib.suppress(OSError):
                fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def rotate_log(path: Path, max_bytes: int = LOG_ROTATE_BYTES) -> None:
    """Move ``path`` to ``<name>.1`` (replacing it) once it is larger than ``max_bytes``."""
    with contextlib.suppress(OSError):
        if path.stat().st_size > max_bytes:
            os.replace(path, path.with_name(path.name + ".1"))


# What a local service inherits of this process's environment: only what runs Python, says where
# home and temporary files are, and how to print. Secrets (database URL, notification URLs, AMC
# credentials, cloud keys) stay out however they are named.
SERVICE_ENV_NAMES = frozenset(
    {
        "PATH",
        "HOME",
        "USER",
        "LOGNAME",
        "SHELL",
        "LANG",
        "LANGUAGE",
        "TZ",
        "TMPDIR",
        "PYTHONPATH",
        "PYTHONHOME",
        "VIRTUAL_ENV",
        "COVERAGE_PROCESS_START",
        "COVERAGE_FILE",
    }
)
SERVICE_ENV_PREFIXES = ("LC_",)


def service_environment(
    extra: Mapping[str, str] | None = None, source: Mapping[str, str] | None = None
) -> dict[str, str]:
    """The allow-listed part of ``source`` (default ``os.environ``), plus ``extra``."""
    source = os.environ if source is None else source
    env = {
        name: value
        for name, value in source.items()
        if name in SERVICE_ENV_NAMES or name.startswith(SERVICE_ENV_PREFIXES)
    }
    env.update(extra or {})
    return env


def spawn_detached(
    command: Sequence[str],
    *,
    log_path: Path,
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
) -> subprocess.Popen:
    """Start ``command`` detached from this process, its output appended to ``log_path``.

    The child gets its own session, stdin from /dev/null and no inherited file descriptors (so it
    holds none of our locks or sockets); the log is rotated first (`rotate_log`). Raises OSError
    when it cannot be started.
    """
    _reap_exited_children()
    rotate_log(log_path)
    with open(log_path, "ab") as log:
        process = subprocess.Popen(
            list(command),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            close_fds=True,
            cwd=None if cwd is None else str(cwd),
            env=None if env is None else dict(env),
        )
    _children[process.pid] = process
    return process


def _reap_exited_children() -> None:
    """Wait for our spawned children that have exited (a zombie of ours counts as dead anyway)."""
    for pid, process in list(_children.items()):
        if process.poll() is not None:
            _children.pop(pid, None)


def _live_process(pid: int) -> psutil.Process | None:
    """Process ``pid`` if it is live (a zombie is not); raises psutil.AccessDenied when it may
    not be inspected and psutil.NoSuchProcess when it ends meanwhile."""
    _reap_exited_children()
    if pid <= 0:
        return None
    try:
        process = psutil.Process(pid)
    except psutil.NoSuchProcess:
        return None
    return None if process.status() == psutil.STATUS_ZOMBIE else process


def start_time(pid: int) -> float | None:
    """When process ``pid`` started (epoch seconds); None if there is no such live process."""
    try:
        process = _live_process(pid)
        return None if process is None else process.create_time()
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return None


def is_alive(pid: int, *, started: float | None = None, started_by: float | None = None) -> bool:
    """Whether ``pid`` is a live process (a zombie is not), and the one meant when told which.

    ``started``: it started at that time (a recycled pid started later); ``started_by``: it
    already existed at that time. Without either, a process we may not inspect counts as alive.
    """
    try:
        process = _live_process(pid)
        if process is None:
            return False
        if started is None and started_by is None:
            return True
        created = process.create_time()
    except psutil.NoSuchProcess:
        return False
    except psutil.AccessDenied:
        return started is None and started_by is None
    if started is not None and abs(created - started) >= SAME_START_SECONDS:
        return False
    return started_by is None or created <= started_by + STARTED_BY_SLACK_SECONDS


def command_line(pid: int) -> str | None:
    """The command line of ``pid`` (arguments joined by spaces); None when it cannot be read."""
    try:
        return " ".join(psutil.Process(pid).cmdline())
    except (psutil.Error, ValueError):
        return None


@dataclass(frozen=True)
class ProcessRef:
    """A process named by its pid and start time, so that a recycled pid is not taken for it."""

    pid: int
    started: float

    @classmethod
    def of(cls, pid: int) -> ProcessRef:
        """The process ``pid`` as it is now (start time "now" if it cannot be read)."""
        return cls(pid, start_time(pid) or time.time())

    @classmethod
    def current(cls) -> ProcessRef:
        return cls.of(os.getpid())

    def is_alive(self) -> bool:
        return is_alive(self.pid, started=self.started)


def terminate(pid: int, *, timeout: float) -> bool:
    """Stop ``pid``: SIGTERM, then SIGKILL if it is still alive after ``timeout`` seconds.

    True once it is gone (after SIGKILL it gets a few more seconds to vanish).
    """
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    if _wait_gone(pid, timeout):
        return True
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
    return _wait_gone(pid, KILL_WAIT_SECONDS)


def _wait_gone(pid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while is_alive(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(POLL_SECONDS)  # waiting for the process to exit, with a deadline
    return True


@dataclass
class IdleClock:
    """Idle-stop bookkeeping: a service unused for ``idle_seconds`` is due to stop.

    ``idle_seconds`` None means never. ``last_use`` is on whichever clock the caller reads
    (``time.monotonic()`` within one process, ``time.time()`` when shared through a file).
    """

    idle_seconds: float | None
    last_use: float

    def touch(self, now: float) -> None:
        self.last_use = now

    def seconds_left(self, now: float) -> float | None:
        """Seconds until the service is due to stop (0 when due); None if it never is."""
        if self.idle_seconds is None:
            return None
        return max(self.last_use + self.idle_seconds - now, 0.0)

    def is_due(self, now: float) -> bool:
        return self.seconds_left(now) == 0.0

    def next_check(self, now: float, *, shortest: float, longest: float) -> float:
        """How long to wait before looking again: until due, within [shortest, longest]."""
        left = self.seconds_left(now)
        return longest if left is None else min(max(left, shortest), longest)
