"""Start and stop a real anvil on a free local port (tests, benchmarks, `oml chain up|down`)."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from .errors import ConfigError, RPCUnavailable

REPO_ROOT = Path(__file__).resolve().parents[2]

# anvil's default mnemonic "test test … junk": the first ten dev keys (public knowledge, local chains only).
DEV_KEYS = [
    "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80",
    "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d",
    "0x5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a",
    "0x7c852118294e51e653712a81e05800f419141751be58f605c371e15141b007a6",
    "0x47e179ec197488593b187f80a00eb0da91f1b9d0b13f8733639f19c30a34926a",
    "0x8b3a350cf5c34c9194ca85829a2df0ec3153be0318b5e2d3348e872092edffba",
    "0x92db14e403b83dfe3df233f83dfa3a0d7096f21ca9b0d6d6b8d88b2b4ec1564e",
    "0x4bbbf85ce3377467afe5d46f804f221813b2bb87f24d81f60f1fcdbf7cbf4356",
    "0xdbda1821b80551c9d65939329250298aa3472ba22feea921c0cf5d620ea67b97",
    "0x2a871d0798f97d79848a013d4936a73bf4cc922c825d33c1cf7073dff6d409c6",
]


def find_anvil() -> str:
    local = REPO_ROOT / "node_modules" / ".bin" / "anvil"
    if local.exists():
        return str(local)
    found = shutil.which("anvil")
    if not found:
        raise ConfigError("anvil not found (node_modules/.bin/anvil or PATH); run `make setup` to install it")
    return found


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Anvil:
    """A running anvil process."""

    port: int
    chain_id: int
    process: subprocess.Popen = field(repr=False)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self, timeout: float = 5.0) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout)

    def __enter__(self) -> Anvil:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


def start_anvil(port: int | None = None, chain_id: int = 31337, block_time: float | None = None,
                extra_args: list[str] | None = None, timeout: float = 20.0, log_path: str | None = None) -> Anvil:
    """Start anvil on 127.0.0.1 (a free port unless given) and wait until it answers JSON-RPC."""
    port = port or free_port()
    args = [find_anvil(), "--host", "127.0.0.1", "--port", str(port), "--chain-id", str(chain_id),
            "--hardfork", "prague", "--silent"]
    if block_time:
        args += ["--block-time", str(block_time)]
    args += extra_args or []
    out = open(log_path, "ab") if log_path else subprocess.DEVNULL
    proc = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT if log_path else subprocess.PIPE,
                            start_new_session=True)
    node = Anvil(port=port, chain_id=chain_id, process=proc)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
            raise ConfigError(f"anvil exited with code {proc.returncode} on port {port}: {err.strip()[-500:]}")
        if wait_for_rpc(node.url, 0.2, raise_=False):
            return node
    node.stop()
    raise RPCUnavailable(node.url)


def wait_for_rpc(url: str, timeout: float = 10.0, raise_: bool = True) -> bool:
    """Poll eth_chainId until it answers."""
    import json
    import urllib.request

    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "eth_chainId", "params": []}).encode()
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while True:
        try:
            req = urllib.request.Request(url, body, {"Content-Type": "application/json"})
            with urllib.request.urlopen(req, timeout=1) as r:
                if "result" in json.loads(r.read()):
                    return True
        except Exception as exc:  # connection refused while starting
            last = exc
        if time.monotonic() >= deadline:
            if raise_:
                raise RPCUnavailable(url, last)
            return False
        time.sleep(0.05)


def stop_pid(pid: int) -> None:
    """Stop an anvil started earlier by pid (for `oml chain down`)."""
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        pass
