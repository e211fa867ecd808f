"""Process sampling for `bench/backfill.py`: CPU seconds and memory of process trees.

CPU is counted exactly, also for processes that ended between two samples: a process's total is
its own CPU plus the CPU of the children it has reaped (`/proc` cutime/cstime: how a code server,
or its forkserver, accounts for finished run workers), summed over the live tree.

Memory is PSS (proportional set size): a page shared by n processes counts 1/n in each, so the
sum over processes is the memory they use together. RSS would count the pages that forked run
workers share with their forkserver once per worker.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import psutil


def tree_cpu_seconds(root_pid: int) -> float:
    """CPU seconds of a process, of its reaped children and of its live descendants."""
    try:
        root = psutil.Process(root_pid)
        processes = [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return 0.0
    total = 0.0
    for process in processes:
        try:
            times = process.cpu_times()
        except psutil.NoSuchProcess:
            continue  # reaped since: its CPU moved into its parent's children_* times
        total += times.user + times.system + times.children_user + times.children_system
    return total


def run_workers(root_pid: int) -> list[psutil.Process]:
    """The run workers under a code server: its `spawn` children, or its forkserver's children."""
    try:
        descendants = psutil.Process(root_pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return []
    workers = []
    for process in descendants:
        try:
            command = " ".join(process.cmdline())
            parent = process.ppid()
        except psutil.NoSuchProcess:
            continue
        if "spawn_main" in command or (
            "multiprocessing.forkserver" in command and parent != root_pid
        ):
            workers.append(process)
    return workers


def pss(process: psutil.Process) -> int:
    info = process.memory_full_info()
    return getattr(info, "pss", info.rss)


@dataclass
class Sample:
    at: float
    memory: int  # bytes (PSS), all sampled trees together
    workers: int  # live run-worker processes


@dataclass(eq=False)
class TreeSampler(threading.Thread):
    """Samples the memory of the trees under `roots` and counts the run workers of the code
    servers `worker_roots`; remembers each run worker's peak memory."""

    roots: Callable[[], list[int]]
    worker_roots: Callable[[], list[int]]
    interval: float = 1.0
    samples: list[Sample] = field(default_factory=list)
    worker_peak: dict[tuple[int, float], tuple[float, int]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        super().__init__(daemon=True)
        self.stop_event = threading.Event()

    def cpu(self) -> float:
        return sum(tree_cpu_seconds(pid) for pid in self.roots())

    def sample(self) -> Sample:
        memory = 0
        for pid in self.roots():
            try:
                root = psutil.Process(pid)
                processes = [root, *root.children(recursive=True)]
            except psutil.NoSuchProcess:
                continue
            for process in processes:
                try:
                    memory += pss(process)
                except (psutil.NoSuchProcess, psutil.AccessDenied):
                    continue
        workers = 0
        for pid in self.worker_roots():
            for worker in run_workers(pid):
                try:
                    key = (worker.pid, worker.create_time())
                    used = pss(worker)
                except (psutil.NoSuchProcess, psutil.AccessDenied):
                    continue
                workers += 1
                started, peak = self.worker_peak.get(key, (key[1], 0))
                self.worker_peak[key] = (started, max(peak, used))
        sample = Sample(time.time(), memory, workers)
        self.samples.append(sample)
        return sample

    def run(self) -> None:
        while not self.stop_event.is_set():
            self.sample()
            self.stop_event.wait(self.interval)

    def stop(self) -> None:
        self.stop_event.set()
        self.join()
