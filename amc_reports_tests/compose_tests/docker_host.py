"""A Docker daemon of the test's own, a Debian base image without a registry, and a wheelhouse
served on loopback for building the product image on it.

- `DockerDaemon`: `dockerd` with its own socket, data root, exec root and pid file under a
  temporary folder, no bridge and no iptables rules (containers use the host's network); never an
  existing daemon. `stop()` removes every container of it and stops it.
- `debian_base_tar`: `debootstrap --variant=minbase` of Debian with python3, its venv module and
  PostgreSQL, as a tar cached between runs (about 100 s the first time).
- `wheelhouse` / `serve_directory`: the wheels of the project's `deploy` extra (built on the host
  with the host's pip), served on 127.0.0.1 so `pip install` in the image build needs no network.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from amc_reports_tests.support.stack import wait_for

DEBIAN_SUITE = "bookworm"
BASE_PACKAGES = ("python3", "python3-venv", "ca-certificates", "postgresql")


class CommandFailed(RuntimeError):
    pass


def run(
    argv: Sequence[str],
    *,
    what: str,
    timeout: float,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
    input_path: Path | None = None,
    with_stderr: bool = False,
) -> str:
    """Run `argv`; its stdout (and stderr, `with_stderr`), or an error saying what failed with
    the end of its output."""
    stdin = open(input_path, "rb") if input_path else subprocess.DEVNULL  # noqa: SIM115
    try:
        done = subprocess.run(
            list(argv),
            stdin=stdin,
            capture_output=True,
            text=True,
            env=env,
            cwd=cwd,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise CommandFailed(f"{what}: no result after {timeout:.0f} s ({' '.join(argv)})") from exc
    finally:
        if input_path:
            stdin.close()
    if done.returncode != 0:
        tail = (done.stdout + done.stderr)[-4000:]
        raise CommandFailed(f"{what} failed (exit {done.returncode}): {' '.join(argv)}\n{tail}")
    return done.stdout + done.stderr if with_stderr else done.stdout


class DockerDaemon:
    """`dockerd` listening only on `<root>/docker.sock`, keeping everything under `root`."""

    def __init__(self, root: Path, docker: str = "/usr/bin/docker") -> None:
        self.root = root
        self.socket = root / "docker.sock"
        self.log_file = root / "dockerd.log"
        self.docker_cli = docker
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def env(self) -> dict[str, str]:
        """The environment for Docker clients (docker, docker-compose) to reach this daemon."""
        return {**os.environ, "DOCKER_HOST": f"unix://{self.socket}"}

    def start(self, timeout: float = 120) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        argv = [
            shutil.which("dockerd") or "/usr/sbin/dockerd",
            "--bridge=none",
            "--iptables=false",
            f"--data-root={self.root / 'data'}",
            f"--exec-root={self.root / 'exec'}",
            f"--pidfile={self.root / 'dockerd.pid'}",
            f"--host=unix://{self.socket}",
        ]
        with open(self.log_file, "wb") as log:
            self.process = subprocess.Popen(
                argv, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )

        def ready() -> bool:
            if self.process is not None and self.process.poll() is not None:
                raise CommandFailed(f"dockerd exited: {self.log_tail()}")
            self.docker("info", what="docker info", timeout=20)
            return True

        wait_for(ready, f"dockerd on {self.socket}", timeout=timeout)

    def docker(self, *args: str, what: str, timeout: float = 120, **kwargs: object) -> str:
        return run([self.docker_cli, *args], what=what, timeout=timeout, env=self.env, **kwargs)

    def log_tail(self, chars: int = 3000) -> str:
        return self.log_file.read_text(errors="replace")[-chars:] if self.log_file.exists() else ""

    def stop(self, timeout: float = 90) -> None:
        """Remove every container of this daemon, then stop it (and its containerd)."""
        if self.process is None:
            return
        if self.process.poll() is None:
            try:
                ids = self.docker("ps", "-aq", what="docker ps", timeout=30).split()
                if ids:
                    self.docker("rm", "-f", "-v", *ids, what="docker rm", timeout=120)
            except CommandFailed:
                pass  # stopping the daemon below stops its containers too
            self.process.terminate()
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)  # the session dockerd leads
                self.process.wait(timeout=30)
        self.process = None
        self._unmount_leftovers()

    def _unmount_leftovers(self) -> None:
        """Mounts dockerd left under `root` (e.g. its network namespace), innermost first."""
        with open("/proc/mounts") as mounts:
            points = [line.split()[1] for line in mounts]
        for point in sorted(points, key=len, reverse=True):
            if point.startswith(f"{self.root}/"):
                subprocess.run(["umount", "-l", point], check=False, capture_output=True)


def _stamp_matches(path: Path, content: str) -> bool:
    return path.exists() and path.read_text() == content


def debian_base_tar(cache: Path) -> Path:
    """A tar of a minimal Debian root with python3, its venv module and PostgreSQL (cached)."""
    cache.mkdir(parents=True, exist_ok=True)
    include = ",".join(BASE_PACKAGES)
    argv = ["debootstrap", "--variant=minbase", f"--include={include}", DEBIAN_SUITE]
    tar = cache / f"debian-{DEBIAN_SUITE}-base.tar"
    stamp = cache / f"debian-{DEBIAN_SUITE}-base.stamp"
    if tar.exists() and _stamp_matches(stamp, " ".join(argv)):
        return tar
    rootfs = cache / "rootfs.partial"
    shutil.rmtree(rootfs, ignore_errors=True)
    started = time.monotonic()
    run([*argv, str(rootfs)], what="debootstrap of the Debian base", timeout=1200)
    # Downloaded packages and package lists: not needed in the image.
    for leftover in (rootfs / "var/cache/apt/archives").glob("*.deb"):
        leftover.unlink()
    shutil.rmtree(rootfs / "var/lib/apt/lists", ignore_errors=True)
    partial_tar = tar.with_suffix(".partial")
    run(["tar", "-C", str(rootfs), "-cf", str(partial_tar), "."], what="tar", timeout=600)
    partial_tar.replace(tar)
    stamp.write_text(" ".join(argv))
    shutil.rmtree(rootfs, ignore_errors=True)
    print(f"debootstrap of the Debian base: {time.monotonic() - started:.0f} s", file=sys.stderr)
    return tar


def wheelhouse(cache: Path, project: Path) -> Path:
    """The wheels `pip install .[deploy]` needs (and the build's setuptools and wheel), built
    with the host's pip; rebuilt when pyproject.toml or setup.py changes."""
    key = hashlib.sha1(
        (project / "pyproject.toml").read_bytes() + (project / "setup.py").read_bytes()
    ).hexdigest()[:12]
    folder = cache / f"wheelhouse-{key}"
    complete = folder / ".complete"
    if complete.exists():
        return folder
    for old in cache.glob("wheelhouse-*"):
        shutil.rmtree(old, ignore_errors=True)
    folder.mkdir(parents=True)
    run(
        [sys.executable, "-m", "pip", "wheel", "-q", "-w", str(folder), ".[deploy]"]
        + ["setuptools>=68", "wheel"],
        what="pip wheel of the deploy extra",
        timeout=1200,
        cwd=project,
    )
    for own in folder.glob("amc_reports-*.whl"):
        own.unlink()  # the image builds the project from its sources
    complete.touch()
    return folder


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass


@contextmanager
def serve_directory(folder: Path) -> Iterator[str]:
    """`folder` over HTTP on 127.0.0.1 (a free port); yields its URL."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(_QuietHandler, directory=str(folder)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()
