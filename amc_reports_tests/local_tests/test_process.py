"""The helper for detached local processes: lock file, spawn, liveness, terminate, idle stop."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import psutil
import pytest

from amc_reports.local.process import (
    IdleClock,
    LockTimeout,
    ProcessRef,
    command_line,
    exclusive_lock,
    is_alive,
    rotate_log,
    spawn_detached,
    start_time,
    terminate,
)

# A child that prints a line once it runs, then waits (SIGTERM ends it unless told to ignore it).
SLEEPER = "import sys, time; print('up', flush=True); time.sleep(120)"
STUBBORN = (
    "import signal, sys, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
    "print('up', flush=True); time.sleep(120)"
)
# Holds the lock file named on its command line until stdin closes.
LOCK_HOLDER = (
    "import sys; from pathlib import Path; from amc_reports.local.process import exclusive_lock\n"
    "with exclusive_lock(Path(sys.argv[1])):\n"
    "    print('locked', flush=True); sys.stdin.read()\n"
)


def _wait_for(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def _wait_for_line(log: Path, line: str, timeout: float = 30) -> None:
    _wait_for(lambda: log.exists() and line in log.read_text(), timeout, f"{line!r} in {log}")


def test_spawned_child_is_detached_logged_and_alive_until_terminated(tmp_path):
    log = tmp_path / "child.log"
    log.write_text("earlier run\n")
    child = spawn_detached([sys.executable, "-c", SLEEPER], log_path=log, cwd=tmp_path)
    try:
        _wait_for_line(log, "up")
        assert log.read_text().startswith("earlier run\n")  # appended, not truncated
        assert os.getsid(child.pid) == child.pid  # its own session: outlives our terminal
        assert psutil.Process(child.pid).cwd() == str(tmp_path)
        assert is_alive(child.pid)
        ref = ProcessRef.of(child.pid)
        assert ref.is_alive()
        assert "time.sleep(120)" in (command_line(child.pid) or "")
    finally:
        assert terminate(child.pid, timeout=10)
    assert not is_alive(child.pid)
    assert not ref.is_alive()
    assert start_time(child.pid) is None
    assert child.returncode is not None  # reaped by the helper, not left as a zombie


def test_a_recycled_pid_is_not_the_process_we_knew():
    me = ProcessRef.current()
    assert me.is_alive()
    assert not ProcessRef(me.pid, me.started - 10).is_alive()  # same pid, started another time
    assert is_alive(me.pid, started_by=me.started + 60)
    assert not is_alive(me.pid, started_by=me.started - 60)  # started after that moment
    assert not is_alive(0) and not is_alive(-1)


def test_a_zombie_is_not_alive():
    child = subprocess.Popen([sys.executable, "-c", "pass"])  # exits at once, not reaped yet
    try:
        _wait_for(
            lambda: psutil.Process(child.pid).status() == psutil.STATUS_ZOMBIE, 30, "a zombie"
        )
        assert not is_alive(child.pid)
        assert start_time(child.pid) is None
    finally:
        child.wait()


def test_terminate_kills_a_process_that_ignores_sigterm(tmp_path):
    log = tmp_path / "stubborn.log"
    child = spawn_detached([sys.executable, "-c", STUBBORN], log_path=log)
    _wait_for_line(log, "up")
    assert terminate(child.pid, timeout=0.5)
    assert child.wait(timeout=10) == -9


def test_lock_excludes_other_processes_and_dies_with_its_holder(tmp_path):
    lock = tmp_path / "deep" / "service.lock"
    holder = subprocess.Popen(
        [sys.executable, "-c", LOCK_HOLDER, str(lock)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        with pytest.raises(LockTimeout) as caught, exclusive_lock(lock, timeout=0.2):
            pass
        assert str(lock) in str(caught.value)
        holder.kill()  # no clean release: the lock goes with the process
        holder.wait(timeout=10)
        with exclusive_lock(lock, timeout=10):
            pass
    finally:
        if holder.poll() is None:
            holder.kill()
            holder.wait()


def test_lock_excludes_threads_of_one_process(tmp_path):
    lock = tmp_path / "service.lock"
    inside: list[int] = []
    overlaps: list[int] = []

    def worker(n: int) -> None:
        for _ in range(20):
            with exclusive_lock(lock):
                inside.append(n)
                if len(inside) > 1:
                    overlaps.append(n)
                inside.remove(n)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not overlaps


def test_a_spawned_child_does_not_inherit_a_held_lock(tmp_path):
    lock = tmp_path / "service.lock"
    log = tmp_path / "child.log"
    with exclusive_lock(lock):
        child = spawn_detached([sys.executable, "-c", SLEEPER], log_path=log)
    try:
        _wait_for_line(log, "up")
        with exclusive_lock(lock, timeout=5):  # the running child holds no copy of it
            pass
    finally:
        terminate(child.pid, timeout=10)


def test_rotate_log_moves_a_large_log_aside(tmp_path):
    log = tmp_path / "service.log"
    log.write_bytes(b"x" * 100)
    rotate_log(log, max_bytes=1000)
    assert log.exists()
    rotate_log(log, max_bytes=10)
    assert not log.exists()
    assert (tmp_path / "service.log.1").read_bytes() == b"x" * 100
    rotate_log(tmp_path / "missing.log", max_bytes=10)  # nothing to do, no error


def test_idle_clock():
    clock = IdleClock(idle_seconds=10, last_use=100)
    assert clock.seconds_left(104) == 6
    assert not clock.is_due(109.9)
    assert clock.is_due(110)
    assert clock.next_check(104, shortest=0.5, longest=30) == 6
    assert clock.next_check(109.9, shortest=0.5, longest=30) == 0.5
    assert clock.next_check(50, shortest=0.5, longest=30) == 30
    clock.touch(120)
    assert clock.seconds_left(125) == 5
    never = IdleClock(idle_seconds=None, last_use=0)
    assert never.seconds_left(1e12) is None
    assert not never.is_due(1e12)
    assert never.next_check(1e12, shortest=0.5, longest=30) == 30
