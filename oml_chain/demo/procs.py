"""Background service processes started through the `oml` CLI, with health waits and guaranteed cleanup."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from ..chain.errors import OMLError


class ServiceFailed(OMLError, RuntimeError):
    """A service process exited or never became healthy (the message quotes its log)."""


@dataclass
class ServiceProcess:
    name: str
    args: list[str]  # after `python -m oml_chain.cli`
    log_path: Path
    env: dict[str, str] = field(default_factory=dict, repr=False)
    process: subprocess.Popen | None = field(default=None, repr=False)

    def start(self) -> ServiceProcess:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, "PYTHONUNBUFFERED": "1", **self.env}
        log = open(self.log_path, "ab")
        # Own session: a Ctrl-C in the terminal reaches only us; we stop children in order (SIGTERM first,
        # so the permission service settles its vouchers).
        self.process = subprocess.Popen([sys.executable, "-m", "oml_chain.cli", *self.args], stdout=log,
                                        stderr=subprocess.STDOUT, env=env, start_new_session=True)
        log.close()
        return self

    def log_tail(self, lines: int = 15) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def wait_http(self, url: str, timeout: float = 120.0) -> None:
        """Until `url` answers any HTTP status below 500 (ServiceFailed if the process dies or time runs out)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process is None or self.process.poll() is not None:
                raise ServiceFailed(f"{self.name} exited with code {self.process.returncode if self.process else '?'}"
                                    f"; its log {self.log_path} ends:\n{self.log_tail()}")
            try:
                if httpx.get(url, timeout=2).status_code < 500:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise ServiceFailed(f"{self.name} did not answer {url} within {timeout:.0f} s; log {self.log_path}:\n"
                            f"{self.log_tail()}")

    def stop(self, timeout: float = 20.0) -> int | None:
        p = self.process
        if p is None or p.poll() is not None:
            return p.returncode if p else None
        p.send_signal(signal.SIGTERM)
        try:
            return p.wait(timeout)
        except subprocess.TimeoutExpired:
            p.kill()
            return p.wait(5)


class ProcessGroup:
    """Every process the demo starts; `close()` stops them in reverse order (also on error and Ctrl-C)."""

    def __init__(self) -> None:
        self.services: list[ServiceProcess] = []
        self.others: list = []  # objects with .stop() (anvil)

    def start(self, svc: ServiceProcess) -> ServiceProcess:
        self.services.append(svc)
        return svc.start()

    def close(self) -> None:
        for svc in reversed(self.services):
            try:
                svc.stop()
            except Exception:  # keep stopping the others
                pass
        for other in reversed(self.others):
            try:
                other.stop()
            except Exception:
                pass
        self.services.clear()
        self.others.clear()

    def __enter__(self) -> ProcessGroup:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def sigterm_as_interrupt() -> None:
    """Turn SIGTERM into KeyboardInterrupt so `finally` blocks (cleanup) run."""
    def handler(signum, frame):
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, handler)
