"""Helpers for the permission-service tests: a real uvicorn server in a thread or a subprocess, request bodies."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from oml_chain.anvil import REPO_ROOT, free_port
from oml_chain.eip712 import Signer
from oml_chain.services.permission import PermissionConfig, uvicorn_config


def make_config(world, db_path: Path, **over) -> PermissionConfig:
    kw = dict(rpc_url=world.w3.provider.endpoint_uri, oml_address=world.address,
              signer_key="0x" + world.signer.signer.private_key.hex(), db_path=str(db_path), settle_interval=0,
              escrow_ttl=2.0, port=free_port(), log_level="warning")
    kw.update(over)
    return PermissionConfig(**kw)


class ThreadServer:
    """uvicorn serving the app in a background thread (no signal handlers); `stop()` runs the shutdown."""

    def __init__(self, config: PermissionConfig):
        import uvicorn

        self.config = config
        self.url = f"http://127.0.0.1:{config.port}"
        self.server = uvicorn.Server(uvicorn_config(config))
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the permission service did not start")
            time.sleep(0.02)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(30)


@dataclass
class ProcServer:
    """The service as `python -m oml_chain.services.permission` in its own process."""

    config: PermissionConfig
    process: subprocess.Popen
    log_path: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.config.port}"

    @classmethod
    def start(cls, config: PermissionConfig, log_path: Path) -> ProcServer:
        env = dict(os.environ, OML_PERMISSION_SIGNER_KEY=config.signer_key, PYTHONPATH=str(REPO_ROOT))
        args = [sys.executable, "-m", "oml_chain.services.permission", "--rpc-url", config.rpc_url, "--oml",
                config.oml_address, "--db", config.db_path, "--port", str(config.port), "--settle-interval",
                str(config.settle_interval), "--log-level", "info"]
        log = open(log_path, "ab")
        proc = subprocess.Popen(args, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=REPO_ROOT)
        srv = cls(config, proc, log_path)
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"the service exited with {proc.returncode}: {log_path.read_text()[-2000:]}")
            try:
                if httpx.get(srv.url + "/healthz", timeout=1).status_code == 200:
                    return srv
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                proc.kill()
                raise RuntimeError("the service did not answer /healthz within 60 s")
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


def single_body(host: Signer, domain, model_id: int, query_hash: bytes, seq: int, count: int,
                voucher_signer: Signer | None = None) -> dict:
    sig = (voucher_signer or host).sign_voucher(domain, model_id, host.address, count)
    return {"model_id": model_id, "host": host.address, "query_hash": "0x" + query_hash.hex(), "seq": seq,
            "voucher": {"model_id": model_id, "host": host.address, "count": count},
            "voucher_signature": "0x" + sig.hex()}
