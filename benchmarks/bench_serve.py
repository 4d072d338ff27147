"""Serving benchmarks: permission signing in process, the permission service over loopback HTTP, the gateway.

One function per group of figures, each taking the shared `Bench` context (a real anvil with OML deployed,
a registered model, a staked and funded host) and returning a dict; `main()` runs every function in
`FIGURES`, merges the results into benchmarks/results/serve.json (keys written by others, e.g. the host
server's `oml_overhead_p50_ms`, are kept; the gateway's figures sit under "gateway" with their own targets,
see bench_serve_gateway.py) and prints a table. To add a figure: write `def f(bench) -> dict` and append it
to FIGURES (or call `main([f])`). Run: `make bench-serve`.
"""

from __future__ import annotations

import http.client
import json
import os
import platform
import shutil
import statistics
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from web3 import Web3  # noqa: E402

from oml_chain.chain import artifacts  # noqa: E402
from oml_chain.chain.anvil import DEV_KEYS, Anvil, free_port, start_anvil  # noqa: E402
from oml_chain.chain.deploy import deploy_contract  # noqa: E402
from oml_chain.chain.eip712 import Domain, Signer, text_hash, typed_data  # noqa: E402
from oml_chain.chain.roles import HostClient, OwnerClient  # noqa: E402
from oml_chain.chain.types import ModelParams  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results" / "serve.json"
TARGETS = {"sign_per_s": 5_000, "http_p50_ms": 2.0}
PRICE = 10**12


@dataclass
class Bench:
    """Shared world of one benchmark run; `close()` stops what it started."""

    anvil: Anvil
    w3: Web3
    address: str
    domain: Domain
    model_id: int
    owner: OwnerClient
    host: HostClient
    permission_signer: Signer
    workdir: Path
    cleanups: list[Callable[[], None]] = field(default_factory=list)

    def close(self) -> None:
        for fn in reversed(self.cleanups):
            fn()
        self.anvil.stop()


def make_bench() -> Bench:
    arts = artifacts.compile_contracts()
    node = start_anvil()
    w3 = Web3(Web3.HTTPProvider(node.url))
    address, _ = deploy_contract(w3, DEV_KEYS[9], arts["OML"])
    abi = arts["OML"].abi
    owner = OwnerClient(w3, address, DEV_KEYS[0], abi=abi)
    host = HostClient(w3, address, DEV_KEYS[1], abi=abi)
    signer = Signer(DEV_KEYS[2])
    params = ModelParams(weights_hash=b"\x11" * 32, metadata_uri="ipfs://bench", fingerprint_root=b"\x22" * 32,
                         fingerprint_count=1024, price_per_query=PRICE, permission_signer=signer.address,
                         min_host_stake=10**18, slash_bps=5000, prover_share_bps=2000, unbonding_delay=86_400,
                         revenue_recipient=owner.account, notice_period=3_600)
    mid = owner.register_model(params)
    host.stake(mid, 10**18, "http://127.0.0.1")
    host.deposit_escrow(mid, 100 * 10**18)
    workdir = Path(tempfile.mkdtemp(prefix="oml-bench-serve-", dir=ROOT / "benchmarks"))
    return Bench(node, w3, address, host.domain, mid, owner, host, signer, workdir)


# --- figures ---------------------------------------------------------------------------------------


def sign_figures(bench: Bench, n: int = 20_000) -> dict:
    """Permissions signed per second in process: OML's direct struct hash + coincurve vs eth-account."""
    from eth_account import Account

    d, mid, host = bench.domain, bench.model_id, bench.host.account
    hashes = [text_hash(f"query {i}") for i in range(n)]
    t = time.perf_counter()
    for i, qh in enumerate(hashes):
        bench.permission_signer.sign_permission(d, mid, host, qh, i + 1)
    ours = n / (time.perf_counter() - t)
    account = Account.from_key(bench.permission_signer.private_key)
    m = max(200, n // 20)
    t = time.perf_counter()
    for i in range(m):
        msg = {"modelId": mid, "host": host, "queryHash": hashes[i], "seq": i + 1}
        account.sign_typed_data(full_message=typed_data(d, "Permission", msg))
    theirs = m / (time.perf_counter() - t)
    # the two must agree byte for byte (both are deterministic RFC 6979)
    msg = {"modelId": mid, "host": host, "queryHash": hashes[0], "seq": 1}
    same = (account.sign_typed_data(full_message=typed_data(d, "Permission", msg)).signature
            == bench.permission_signer.sign_permission(d, mid, host, hashes[0], 1))
    return {"sign_per_s": round(ours), "eth_account_sign_per_s": round(theirs), "sign_matches_eth_account": same}


def _serve(bench: Bench, db_dir: Path, name: str, durability: str = "crash"):
    from oml_chain.services.permission import PermissionConfig
    from oml_chain.services.permission.process import ServiceProcess

    db_dir.mkdir(parents=True, exist_ok=True)
    config = PermissionConfig(rpc_url=bench.anvil.url, oml_address=bench.address,
                              signer_key="0x" + bench.permission_signer.private_key.hex(),
                              db_path=str(db_dir / f"{name}.db"), settle_interval=0, escrow_ttl=60.0,
                              port=free_port(), durability=durability)
    srv = ServiceProcess.start(config, bench.workdir / f"{name}.log")
    bench.cleanups.append(lambda: srv.process.poll() is None and srv.kill9())
    return srv


def _post_all(port: int, path: str, bodies: list[bytes]) -> list[float]:
    conn = http.client.HTTPConnection("127.0.0.1", port)
    lat = []
    for b in bodies:
        t = time.perf_counter()
        conn.request("POST", path, b, {"content-type": "application/json"})
        r = conn.getresponse()
        data = r.read()
        lat.append(time.perf_counter() - t)
        if r.status != 200:
            raise RuntimeError(f"{path} answered {r.status}: {data[:300]!r}")
    conn.close()
    return lat


def _single_bodies(bench: Bench, host: Signer, start: int, n: int, tag: str) -> list[bytes]:
    d, mid = bench.domain, bench.model_id
    out = []
    for i in range(start, start + n):
        count = i
        out.append(json.dumps({"model_id": mid, "host": host.address,
                               "query_hash": "0x" + text_hash(f"{tag} {i}").hex(), "seq": i,
                               "voucher": {"model_id": mid, "host": host.address, "count": count,
                                           "cumulative_amount": str(count * PRICE)},
                               "voucher_signature": "0x" + host.sign_voucher(d, mid, host.address, count,
                                                                             count * PRICE).hex()
                               }).encode())
    return out


def _pcts(lat: list[float]) -> tuple[float, float]:
    """(p50, p99) in ms of latencies in seconds."""
    q = statistics.quantiles(lat, n=100)
    return round(statistics.median(lat) * 1e3, 3), round(q[98] * 1e3, 3)


class _Host:
    """A host server (uvicorn, one worker) on a thread of this process: `port`, `app` (its FastAPI app, whose
    `state` holds the backend and permission client) and `loop` (its event loop, to count its tasks)."""

    def __init__(self, config):
        import uvicorn

        from oml_chain.services.host import uvicorn_config

        self.port = config.port
        self.url = f"http://127.0.0.1:{config.port}"
        self.server = uvicorn.Server(uvicorn_config(config, log_level="warning"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        while not self.server.started:
            if not self.thread.is_alive():
                raise RuntimeError("host server failed to start")
            time.sleep(0.05)

    @property
    def app(self):
        return self.server.config.app

    @property
    def loop(self):
        return self.server.servers[0].get_loop()

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(30)


def http_figures(bench: Bench, n_single: int = 400, n_batches: int = 20, batch: int = 100) -> dict:
    """Sequential single requests and batches over loopback against the service in its own process.

    `http_*` figures use the default ledger durability "crash" (every answer committed to the WAL before it
    is sent: a killed service loses nothing); `*_power` repeat the single-request run with durability
    "power" (an fsync before every answer, so it cannot beat `fsync_p50_ms`, the disk's fdatasync latency).
    """
    host = bench.host.signer
    out: dict = {"fsync_p50_ms": _fsync_p50_ms(bench.workdir)}
    srv = _serve(bench, bench.workdir / "ledger", "durable")
    bodies = _single_bodies(bench, host, 1, 20 + n_single, "single")
    _post_all(srv.config.port, "/v1/permissions", bodies[:20])  # warm-up: caches, connections
    t = time.perf_counter()
    lat = _post_all(srv.config.port, "/v1/permissions", bodies[20:])
    out["http_permission_per_s"] = round(n_single / (time.perf_counter() - t), 1)
    out["http_p50_ms"], out["http_p99_ms"] = _pcts(lat)
    # batches continue the same host's count and seq
    d, mid, start = bench.domain, bench.model_id, 21 + n_single
    bbodies = []
    for b in range(n_batches):
        first = start + b * batch
        count = first + batch - 1
        bbodies.append(json.dumps({
            "model_id": mid, "host": host.address, "voucher": {"model_id": mid, "host": host.address, "count": count,
                                                               "cumulative_amount": str(count * PRICE)},
            "voucher_signature": "0x" + host.sign_voucher(d, mid, host.address, count, count * PRICE).hex(),
            "items": [{"query_hash": "0x" + text_hash(f"batch {s}").hex(), "seq": s}
                      for s in range(first, first + batch)]}).encode())
    t = time.perf_counter()
    _post_all(srv.config.port, "/v1/permissions/batch", bbodies)
    out["http_batch_permission_per_s"] = round(n_batches * batch / (time.perf_counter() - t), 1)
    out["http_batch_size"] = batch
    srv.kill9()
    # The same single-request run with durability="power": an fsync before every answer.
    srv = _serve(bench, bench.workdir / "ledger-power", "power", durability="power")
    # another host (dev key 3), so the run starts from a fresh ledger row
    bodies = _single_bodies(bench, Signer(DEV_KEYS[3]), 1, 20 + n_single, "power")
    HostClient(bench.w3, bench.address, DEV_KEYS[3]).deposit_escrow(bench.model_id, 10**18)
    _post_all(srv.config.port, "/v1/permissions", bodies[:20])
    t = time.perf_counter()
    lat = _post_all(srv.config.port, "/v1/permissions", bodies[20:])
    out["http_permission_per_s_power"] = round(n_single / (time.perf_counter() - t), 1)
    out["http_p50_ms_power"], out["http_p99_ms_power"] = _pcts(lat)
    srv.kill9()
    return out


def _fsync_p50_ms(directory: Path, n: int = 50) -> float:
    path = directory / "fsync_probe"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
    lat = []
    try:
        for _ in range(n):
            os.write(fd, b"x" * 4096)
            t = time.perf_counter()
            os.fdatasync(fd)
            lat.append(time.perf_counter() - t)
    finally:
        os.close(fd)
        path.unlink()
    return round(statistics.median(lat) * 1e3, 3)


def gateway_figures(bench: Bench) -> dict:
    """The gateway's figures under "gateway" (benchmarks/bench_serve_gateway.py)."""
    from bench_serve_gateway import gateway_figures as figures

    return figures(bench)


FIGURES: list[Callable[[Bench], dict]] = [sign_figures, http_figures, gateway_figures]


# --- driver ----------------------------------------------------------------------------------------


def main(figures: list[Callable[[Bench], dict]] | None = None, out: Path = RESULTS) -> dict:
    bench = make_bench()
    results: dict = {}
    try:
        for fn in figures or FIGURES:
            results.update(fn(bench))
    finally:
        bench.close()
        shutil.rmtree(bench.workdir, ignore_errors=True)
    merged = json.loads(out.read_text()) if out.is_file() else {}
    merged.update(results)
    targets = dict(merged.get("targets", {}), **TARGETS)
    merged["targets"] = targets
    met = dict(merged.get("targets_met", {}))
    if "sign_per_s" in merged:
        met["sign_per_s"] = merged["sign_per_s"] >= TARGETS["sign_per_s"]
    if "http_p50_ms" in merged:
        met["http_p50_ms"] = merged["http_p50_ms"] <= TARGETS["http_p50_ms"]
    merged["targets_met"] = met
    merged["serve_config"] = {"machine": platform.machine(), "python": platform.python_version(),
                              "cpus": os.cpu_count(), "server": "uvicorn+uvloop+httptools, 1 worker, own process",
                              "client": "http.client keep-alive, sequential", "ledger": "SQLite WAL; durability crash (synchronous=NORMAL) for http_*, power (FULL) for *_power"}
    merged["serve_notes"] = ("http_* use the default ledger durability 'crash': each answer is committed to the "
                             "SQLite WAL before it is sent, so killing the service loses nothing; *_power fsyncs "
                             "before every answer (survives power loss) and cannot go below fsync_p50_ms")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(merged, indent=2) + "\n")
    _print_table(results, TARGETS)
    return merged


def _print_table(results: dict, targets: dict, prefix: str = "") -> None:
    """One line per figure; a nested group (e.g. "gateway") prints its own figures against its own targets."""
    flat = {k: v for k, v in results.items() if not (isinstance(v, dict) and "targets" in v)}
    if flat:
        width = max(len(prefix + k) for k in flat)
        print(f"{'figure':<{width}}  value      target")
        for k, v in flat.items():
            print(f"{prefix + k:<{width}}  {v!s:<10} {targets.get(k, '')}")
    for k, v in results.items():
        if k not in flat:
            _print_table({n: x for n, x in v.items() if n not in ("targets", "targets_met")}, v["targets"],
                         prefix=f"{prefix}{k}.")


if __name__ == "__main__":
    main()
