"""Run the permission service as a child process (`python -m oml_chain.services.permission`) and wait for it.

Used by the durability tests and the serve benchmark; the signer key travels in the environment.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from ...chain.anvil import REPO_ROOT
from ...chain.errors import ConfigError
from .config import PermissionConfig


@dataclass
class ServiceProcess:
    """The service as `python -m oml_chain.services.permission` in its own process."""

    config: PermissionConfig
    process: subprocess.Popen
    log_path: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.config.port}"

    @classmethod
    def start(cls, config: PermissionConfig, log_path: Path) -> ServiceProcess:
        env = dict(os.environ, OML_PERMISSION_SIGNER_KEY=config.signer_key, PYTHONPATH=str(REPO_ROOT))
        args = [sys.executable, "-m", "oml_chain.services.permission", "--rpc-url", config.rpc_url, "--oml",
                config.oml_address, "--db", config.db_path, "--port", str(config.port), "--settle-interval",
                str(config.settle_interval), "--log-level", "info", "--durability", config.durability]
        log = open(log_path, "ab")
        proc = subprocess.Popen(args, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=REPO_ROOT)
        srv = cls(config, proc, log_path)
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None:
                raise ConfigError(f"the permission service exited with {proc.returncode}: {log_path.read_text()[-2000:]}")
            try:
                if httpx.get(srv.url + "/healthz", timeout=1).status_code == 200:
                    return srv
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                proc.kill()
                raise ConfigError("the permission service did not answer /healthz within 60 s")
            time.sleep(0.05)

    def kill9(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)

    def terminate(self, timeout: float = 60) -> bool:
        """SIGTERM; True when the process shut down gracefully (uvicorn re-raises the signal after its
        shutdown, so the exit status is -SIGTERM either way: the log tells the graceful path)."""
        self.process.send_signal(signal.SIGTERM)
        code = self.process.wait(timeout)
        return code in (0, -signal.SIGTERM) and "Application shutdown complete" in self.log_path.read_text()
