"""Child processes that `ioc up` owns: started in their own process group, stopped with it.

Each part runs in a new session so that stopping it reaches its children too (postgres
forks backends, Faust may fork); each also gets SIGKILL from the kernel if `ioc up` itself
dies, so no `postgres` or `tansu` outlives us.
"""

from __future__ import annotations

import contextlib
import ctypes
import importlib.util
import logging
import os
import shutil
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Sequence
from pathlib import Path

from ioc.errors import MissingBinaryError, PortInUseError, ServiceError

log = logging.getLogger(__name__)

_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:  # runs in the child between fork and exec
    os.setsid()
    # not Linux (no prctl): the process group kill on stop still applies
    with contextlib.suppress(OSError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


def check_port_free(host: str, port: int, setting: str) -> None:
    """Raise `PortInUseError` naming `setting` when `host:port` cannot be bound."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            raise PortInUseError(
                f"port {port} on {host} is already in use by another program; "
                f"stop it or choose another port with {setting}"
            ) from None


def require_executable(path: Path, what: str, setting: str | None = None) -> Path:
    """Raise `MissingBinaryError` unless `path` is an executable file."""
    if not path.is_file() or not os.access(path, os.X_OK):
        hint = f" (set {setting} to override)" if setting else ""
        raise MissingBinaryError(f"{what} not found or not executable at {path}{hint}")
    return path


def package_dir(package: str, missing: str) -> Path:
    """Folder of an installed package that ships a binary; raise `MissingBinaryError` if absent."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise MissingBinaryError(missing)
    return Path(next(iter(spec.submodule_search_locations)))


def wait_for_tcp(host: str, port: int, timeout: float, part: ManagedProcess | None = None) -> None:
    """Wait until `host:port` accepts connections; fail early if `part` exits first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if part is not None:
            part.raise_if_exited()
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise ServiceError(f"nothing answered on {host}:{port} after {timeout:.0f} s")


def stop_on_signals() -> threading.Event:
    """An event set by Ctrl-C or SIGTERM: long work checks it and stops cleanly."""
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    return stop


class ManagedProcess:
    """One named child process with its output in a log file."""

    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        log_file: Path,
        env: dict[str, str] | None = None,
        user: str | None = None,
        cwd: Path | None = None,
        stop_signal: signal.Signals = signal.SIGTERM,
    ) -> None:
        self.name = name
        self.argv = list(argv)
        self.log_file = log_file
        self.env = env
        self.user = user
        self.cwd = cwd
        self.stop_signal = stop_signal
        self.proc: subprocess.Popen[bytes] | None = None

    def rotate_log(self, max_bytes: int, keep: int) -> bool:
        """When the log is past `max_bytes`: NAME.log.1 ... NAME.log.`keep` shift by one (the
        oldest goes), the log is copied to NAME.log.1 and emptied in place. The child keeps
        writing to it (its file is open for appending, so it writes at the new end); lines
        written between the copy and the emptying are lost, as with logrotate's copytruncate.
        """
        try:
            if self.log_file.stat().st_size <= max_bytes:
                return False
        except FileNotFoundError:
            return False
        old = [self.log_file.with_name(f"{self.log_file.name}.{n}") for n in range(1, keep + 1)]
        old[-1].unlink(missing_ok=True)
        for newer, older in zip(reversed(old[:-1]), reversed(old[1:]), strict=True):
            if newer.exists():
                newer.rename(older)
        shutil.copyfile(self.log_file, old[0])
        os.truncate(self.log_file, 0)
        log.info("rotated %s's log (%s.1 is the newest old one)", self.name, self.log_file.name)
        return True

    def start(self) -> ManagedProcess:
        self.log_file.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_file, "ab") as out:
            try:
                self.proc = subprocess.Popen(
                    self.argv,
                    stdin=subprocess.DEVNULL,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    env=self.env,
                    user=self.user,
                    cwd=self.cwd,
                    preexec_fn=_die_with_parent,
                )
            except FileNotFoundError:
                raise MissingBinaryError(f"{self.name}: cannot run {self.argv[0]}") from None
        log.info("started %s (pid %d), log in %s", self.name, self.proc.pid, self.log_file)
        return self

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def exit_code(self) -> int | None:
        return None if self.proc is None else self.proc.poll()

    def log_tail(self, lines: int = 15) -> str:
        try:
            text = self.log_file.read_text(errors="replace").splitlines()
        except OSError:
            return ""
        return "\n".join(text[-lines:])

    def raise_if_exited(self) -> None:
        code = self.exit_code()
        if code is not None:
            raise ServiceError(
                f"{self.name} exited with code {code}; "
                f"last lines of {self.log_file}:\n{self.log_tail()}"
            )

    def kill(self) -> None:
        """SIGKILL the whole process group at once, as a crash would (fault runs)."""
        if self.proc is None:
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(10)
        log.info("killed %s", self.name)

    def pause(self, paused: bool = True) -> None:
        """SIGSTOP the whole process group (it answers nothing, as a hung machine or a cut
        network would), or SIGCONT it again (fault runs)."""
        if self.proc is not None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.proc.pid, signal.SIGSTOP if paused else signal.SIGCONT)

    def stop(self, timeout: float = 10.0) -> None:
        """Signal the whole process group, then SIGKILL what is left after `timeout`."""
        if self.proc is None:
            return
        for sig, wait in ((self.stop_signal, timeout), (signal.SIGKILL, 5.0)):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, sig)
            try:
                self.proc.wait(wait)
            except subprocess.TimeoutExpired:
                log.warning("%s did not stop within %.0f s; killing it", self.name, wait)
                continue
            # the leader is gone; make sure nothing else in its group lingers
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            break
        log.info("stopped %s", self.name)
