"""Ports and process plumbing shared by the real-peer helpers.

Kept free of pytest so benchmarks and ad-hoc scripts can start the same peers.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import IO, Self

#: Every peer listens on loopback only (as far as the peer allows) and we always dial this.
LOOPBACK = "127.0.0.1"

#: Start-up budget: Orthanc and DCMTK are ready in well under a second on a normal machine.
DEFAULT_START_TIMEOUT = 20.0

#: Grace period between SIGTERM and SIGKILL at teardown.
DEFAULT_STOP_GRACE = 5.0


def free_port(host: str = LOOPBACK) -> int:
    """A TCP port that was free a moment ago (the kernel picks it; we release it at once)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def reserve_dead_port(host: str = LOOPBACK) -> socket.socket:
    """A bound but never listening socket: connecting to its port is refused at once.

    Holding it open (rather than just remembering a free port number) keeps other processes from
    picking that port up while the session uses it as the "nobody listens here" destination.
    """
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind((host, 0))
    return sock


def port_accepts(host: str, port: int, timeout: float = 0.25) -> bool:
    """True if a TCP connection to ``host:port`` succeeds right now."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def wait_for_port(
    host: str,
    port: int,
    timeout: float = DEFAULT_START_TIMEOUT,
    process: subprocess.Popen[bytes] | None = None,
) -> None:
    """Block until ``host:port`` accepts TCP connections.

    Raises TimeoutError after ``timeout`` seconds, or ChildProcessError as soon as ``process``
    (the server expected to listen there) has exited, so a crashed peer fails fast.
    """
    deadline = time.monotonic() + timeout
    while True:
        if process is not None and process.poll() is not None:
            raise ChildProcessError(
                f"process {process.pid} exited with status {process.returncode} "
                f"before listening on {host}:{port}"
            )
        if port_accepts(host, port):
            return
        if time.monotonic() >= deadline:
            raise TimeoutError(f"nothing accepted connections on {host}:{port} within {timeout} s")
        time.sleep(0.01)  # a refused loopback connect costs microseconds; poll tightly


def peer_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """Environment for peers and DCMTK tools.

    TCP_NODELAY=1 makes DCMTK (and Orthanc, which embeds DCMTK) disable Nagle's algorithm;
    without it every small DIMSE message on loopback can wait ~40 ms for a delayed ACK.
    """
    env = dict(os.environ)
    env["TCP_NODELAY"] = "1"
    if extra:
        env.update(extra)
    return env


def tail(path: Path, lines: int = 40) -> str:
    """Last ``lines`` lines of a log file (empty if it does not exist yet)."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


def _wait_without_reaping(pid: int, timeout: float) -> bool:
    """Wait until ``pid`` has exited but leave it a zombie (so its pid stays reserved)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            info = os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
        except ChildProcessError:  # already reaped elsewhere
            return True
        if info is not None:
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.005)


def _parent_death_wrapper() -> list[str]:
    """``setpriv --pdeathsig TERM`` where available (util-linux, Linux only).

    The peer runs in its own session, so nothing else would stop it if the test process dies
    without teardown (pytest-timeout's os._exit, a crash, kill -9): the kernel then sends it
    SIGTERM. setpriv execs the peer directly, so the peer keeps the pid we track. Linux ties
    this to the *thread* that called Popen, hence PeerProcess.die_with_parent.
    """
    setpriv = shutil.which("setpriv") if sys.platform.startswith("linux") else None
    return [setpriv, "--pdeathsig", "TERM", "--"] if setpriv else []


class PeerStartError(RuntimeError):
    """A peer did not come up; the message carries the tail of its log."""


class PeerProcess:
    """One third-party server process, started in its own process group.

    Subclasses write their configuration in ``_prepare()`` and name their command line in
    ``_command()``. The own process group lets ``stop()`` also reach children that forking
    servers (dcmqrscp, storescp --fork) spawn per association.
    """

    #: Short human name used in errors and log file names.
    name = "peer"

    #: Ask the kernel to SIGTERM the peer if the thread that started it dies (see
    #: _parent_death_wrapper). Turn off when starting peers from short-lived worker threads.
    die_with_parent = True

    def __init__(self, workdir: Path, port: int, *, host: str = LOOPBACK) -> None:
        self.workdir = Path(workdir)
        self.host = host
        self.port = port
        self.log_path = self.workdir / f"{self.name}.log"
        self.process: subprocess.Popen[bytes] | None = None
        self._log_file: IO[bytes] | None = None

    # -- to override -------------------------------------------------------------------------
    def _command(self) -> Sequence[str]:
        raise NotImplementedError

    def _prepare(self) -> None:
        """Write configuration files and folders before the process starts."""

    def _ready_ports(self) -> Sequence[int]:
        """Ports that must accept connections before the peer counts as started."""
        return (self.port,)

    def _check_ready(self) -> None:
        """Extra readiness probe after the ports are open (e.g. an HTTP request)."""

    # -- lifecycle ---------------------------------------------------------------------------
    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def start(self, timeout: float = DEFAULT_START_TIMEOUT) -> Self:
        """Start the server and wait until it accepts connections; raise PeerStartError if not."""
        if self.running:
            return self
        busy = [port for port in self._ready_ports() if port_accepts(self.host, port)]
        if busy:
            # Otherwise the readiness probe would be answered by whoever holds the port.
            raise PeerStartError(f"{self.name}: port(s) {busy} already in use on {self.host}")
        self.workdir.mkdir(parents=True, exist_ok=True)
        self._prepare()
        command = list(self._command())
        self._log_file = self.log_path.open("ab")
        self._log_file.write(f"--- starting: {' '.join(command)}\n".encode())
        self._log_file.flush()
        try:
            self.process = subprocess.Popen(
                [*(_parent_death_wrapper() if self.die_with_parent else []), *command],
                cwd=self.workdir,
                env=peer_env(),
                stdin=subprocess.DEVNULL,
                stdout=self._log_file,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        except OSError as exc:
            self._close_log()
            raise PeerStartError(f"{self.name}: cannot run {command[0]!r}: {exc}") from exc
        deadline = time.monotonic() + timeout
        try:
            for port in self._ready_ports():
                wait_for_port(self.host, port, max(deadline - time.monotonic(), 0.0), self.process)
            self._check_ready()
        except Exception as exc:
            self.stop()
            raise PeerStartError(
                f"{self.name} did not start: {exc}\n"
                f"command: {' '.join(command)}\n"
                f"--- last lines of {self.log_path} ---\n{self.log_tail()}"
            ) from exc
        except BaseException:  # KeyboardInterrupt, pytest-timeout: never leave it running
            self.stop()
            raise
        return self

    def stop(self, grace: float = DEFAULT_STOP_GRACE) -> None:
        """SIGTERM the process group, SIGKILL it after ``grace`` seconds, reap the leader."""
        process = self.process
        if process is None:
            return
        pgid = process.pid  # start_new_session=True: the leader's pid is the group id
        if process.returncode is None:
            self._signal_group(pgid, signal.SIGTERM)
            if not _wait_without_reaping(process.pid, grace):
                self._signal_group(pgid, signal.SIGKILL)
                _wait_without_reaping(process.pid, grace)
            # Children forked per association may outlive a leader that exited on SIGTERM.
            # The leader is still an unreaped zombie here, so the group id cannot be reused.
            self._signal_group(pgid, signal.SIGKILL)
        process.wait(timeout=grace)
        self.process = None
        self._close_log()

    @staticmethod
    def _signal_group(pgid: int, sig: signal.Signals) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pgid, sig)

    def _close_log(self) -> None:
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None

    def log_tail(self, lines: int = 40) -> str:
        return tail(self.log_path, lines)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = "running" if self.running else "stopped"
        return f"<{type(self).__name__} {self.host}:{self.port} {state}>"
