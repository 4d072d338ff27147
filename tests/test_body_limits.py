"""Body limits of every server, each a real process started by the `oml` CLI: an oversized Content-Length is
refused (413, the documented error JSON) before the body is read, an oversized chunked body soon after the
limit, and the server's peak memory does not grow by anything near the body's size."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

from oml_chain.chain.anvil import free_port
from oml_chain.chain.deploy import write_deployment

pytestmark = pytest.mark.services

REPO = Path(__file__).resolve().parent.parent
HUGE = 200 << 20  # 200 MiB: what the outside review sent
MiB = 1 << 20


class CliServer:
    """`python -m oml_chain.cli <args>` as a child process, waited for until `health` answers."""

    def __init__(self, name: str, args: list[str], port: int, cwd: Path, health: str):
        self.name, self.port, self.url = name, port, f"http://127.0.0.1:{port}"
        self.log = cwd / f"{name}.log"
        env = {k: v for k, v in os.environ.items() if not k.startswith("OML_")}
        env["PYTHONPATH"] = str(REPO)
        self.proc = subprocess.Popen([sys.executable, "-m", "oml_chain.cli", *args, "--port", str(port),
                                      "--log-level", "warning"], cwd=cwd, env=env, stdout=self.log.open("wb"),
                                     stderr=subprocess.STDOUT)
        self.health = health

    def wait(self, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while True:
            assert self.proc.poll() is None, f"{self.name} exited: {self.log.read_text()[-2000:]}"
            try:
                if httpx.get(self.url + self.health, timeout=1).status_code < 500:
                    return
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, f"{self.name} did not start: {self.log.read_text()[-2000:]}"
            time.sleep(0.1)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)

    # peak memory of the process: VmHWM, reset to the current RSS first (Linux clear_refs 5)
    def reset_peak(self) -> int:
        with open(f"/proc/{self.proc.pid}/clear_refs", "w") as f:
            f.write("5")
        return self._kb("VmRSS")

    def peak(self) -> int:
        return self._kb("VmHWM")

    def _kb(self, field: str) -> int:
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
        raise AssertionError(f"no {field} for {self.name}")


# (server, method, path, limit) — each server's request that takes a body, or for the distribution server
# (GET only) its manifest
TARGETS = {"host": ("POST", "/v1/completions", MiB), "permission": ("POST", "/v1/permissions", MiB),
           "distribution": ("GET", "/v1/models/{model_id}/manifest", 16 << 10)}


@pytest.fixture(scope="module")
def servers(w3, oml_address, oml_artifacts, dev_keys, tiny_base_dir, tmp_path_factory):
    """The three servers as CLI processes on the session chain (state reverted afterwards)."""
    from chain_world import MIN_STAKE, make_world

    snap = w3.provider.make_request("evm_snapshot", [])["result"]
    world = make_world(w3, oml_address, oml_artifacts["OML"].abi, dev_keys)
    world.host.stake(world.model_id, MIN_STAKE, "http://host")
    cwd = tmp_path_factory.mktemp("body-limits")
    write_deployment(cwd / "deployments.json", w3.eth.chain_id, oml_address, 0)
    common = ["--rpc-url", w3.provider.endpoint_uri, "--deployments", str(cwd / "deployments.json")]
    host_key = "0x" + world.host.signer.private_key.hex()
    signer_key = "0x" + world.signer.signer.private_key.hex()
    procs = {
        "host": CliServer("host", ["host", "serve", *common, "--key", host_key, "--model-id", str(world.model_id),
                                   "--model-dir", str(tiny_base_dir), "--no-permission"], free_port(), cwd,
                          "/healthz"),
        "permission": CliServer("permission", ["permission", "serve", *common, "--key", signer_key, "--db",
                                               str(cwd / "ledger.db"), "--settle-interval", "0"], free_port(), cwd,
                                "/healthz"),
        "distribution": CliServer("distribution", ["distribute", "serve", *common, "--model",
                                                   f"{world.model_id}={tiny_base_dir}"], free_port(), cwd,
                                  "/healthz"),
    }
    try:
        for p in procs.values():
            p.wait()
        yield procs, world.model_id
    finally:
        for p in procs.values():
            p.stop()
        w3.provider.make_request("evm_revert", [snap])


def _read_response(sock: socket.socket) -> tuple[int, dict, bytes]:
    buf = b""
    while b"\r\n\r\n" not in buf:
        data = sock.recv(65536)
        assert data, f"the server closed the connection without an answer (got {buf!r})"
        buf += data
    head, _, body = buf.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    while len(body) < int(headers.get("content-length", 0)):
        data = sock.recv(65536)
        assert data, "the server closed the connection in the middle of its answer"
        body += data
    return status, headers, body


def _closed(sock: socket.socket) -> bool:
    """True when the server has closed (or reset) the connection."""
    try:
        while True:
            if not sock.recv(65536):
                return True
    except (ConnectionResetError, BrokenPipeError):
        return True
    except socket.timeout:
        return False


def _check_413(status: int, headers: dict, body: bytes) -> str:
    assert status == 413, body[:500]
    err = json.loads(body)["error"]
    assert err["code"] == "body_too_large" and isinstance(err["message"], str) and "limit" in err["message"]
    assert headers["content-type"].startswith("application/json") and headers.get("connection") == "close"
    return err["message"]


def _target(servers, name):
    procs, model_id = servers
    method, path, limit = TARGETS[name]
    return procs[name], method, path.format(model_id=model_id), limit


@pytest.mark.parametrize("name", list(TARGETS))
def test_oversized_content_length_is_refused_before_reading(servers, name):
    srv, method, path, limit = _target(servers, name)
    with socket.create_connection(("127.0.0.1", srv.port), timeout=30) as s:
        s.sendall(f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                  f"Content-Length: {HUGE}\r\n\r\n".encode())  # and not one byte of the body
        status, headers, body = _read_response(s)
        msg = _check_413(status, headers, body)
        assert str(HUGE) in msg and str(limit) in msg
        assert _closed(s)
    # a body within the limit still reaches the app (refused there for what it is, not for its size)
    r = httpx.request(method, srv.url + path, content=b"x" * (limit - 1),
                      headers={"content-type": "application/json"})
    assert r.status_code != 413 and r.json()["error"]["code"] != "body_too_large"


@pytest.mark.parametrize("name", list(TARGETS))
def test_oversized_chunked_body_is_refused_after_the_limit_without_buffering(servers, name):
    srv, method, path, limit = _target(servers, name)
    base = srv.reset_peak()
    chunk = 64 << 10
    piece = b"%x\r\n" % chunk + b"[" * chunk + b"\r\n"
    sent = 0

    def pump(sock):
        nonlocal sent
        try:
            while sent < HUGE:
                sock.sendall(piece)
                sent += chunk
            sock.sendall(b"0\r\n\r\n")
        except OSError:  # the server closed the connection after its 413: what we want
            pass

    with socket.create_connection(("127.0.0.1", srv.port), timeout=30) as s:
        s.sendall(f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                  "Transfer-Encoding: chunked\r\n\r\n".encode())
        sender = threading.Thread(target=pump, args=(s,), daemon=True)
        sender.start()
        status, headers, body = _read_response(s)
        _check_413(status, headers, body)
        assert _closed(s)
        sender.join(60)
    assert not sender.is_alive()
    grew = srv.peak() - base
    assert grew < 48 * MiB, f"{name}: peak RSS grew by {grew / MiB:.0f} MiB for a {HUGE // MiB} MiB body"
    # the server stopped reading just past the limit: what got through is the limit plus what the kernel's
    # socket buffers held (a few MiB), far below the 200 MiB offered
    assert sent < 64 * MiB, f"{sent} bytes went through"
    assert srv.proc.poll() is None  # and it is still serving
    assert httpx.get(srv.url + "/healthz", timeout=10).status_code == 200
