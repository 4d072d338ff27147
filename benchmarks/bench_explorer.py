"""Explorer benchmarks: indexing throughput on 100,000 events, and page render times over that database.

The chain: a real anvil with the explorer's demo world (oml_chain/explorer/world.py: real OML activity on
3 models), plus 100,000 events from `contracts/bench/BenchEventEmitter.sol`, a bench-only contract that emits
OML's own event declarations (VoucherSettled, EscrowDeposited, PermissionReceiptsRecorded, HostStaked) in
bulk, 1,000 per transaction, for the world's models and hosts; generating 100,000 real OML events one
transaction each would take hours. The indexer follows the emitter as a second OML-kind contract (a row in
the `contracts` table), so its logs go through exactly the same path as OML's.

Figures (benchmarks/results/explorer.json):
- `index_events_per_s`: `Indexer.sync_once()` over the whole history into a fresh SQLite file (eth_getLogs,
  headers, decode, one transaction per range), target ≥ 5,000 events/s;
- baselines measured in the same run: the same eth_getLogs ranges fetched and JSON-parsed whole (no decode, no
  SQLite) — `index_vs_raw_getlogs` is the indexer's share of that ceiling; and web3.py's own
  get_logs + get_event_data decoding (on a sample), the obvious way to write an indexer;
- `render_p50_ms`: GET over real HTTP on loopback of the overview, the busiest model page and the busiest host
  page served by web.py's app from that database (the slowest page's median; the first request of each page
  is reported apart: it fills the app's caches), target ≤ 50 ms.

Run: `make bench-explorer` (or `python benchmarks/bench_explorer.py [--events N]`).
"""

from __future__ import annotations

import argparse
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
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from web3 import Web3  # noqa: E402

from oml_chain.chain.anvil import DEV_KEYS, Anvil, free_port, start_anvil  # noqa: E402
from oml_chain.chain.artifacts import compile_contracts  # noqa: E402
from oml_chain.chain.deploy import deploy_contract  # noqa: E402
from oml_chain.explorer.db import ExplorerDB  # noqa: E402
from oml_chain.explorer.indexer import Indexer, JsonRpc, load_specs  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results" / "explorer.json"
TARGETS = {"index_events_per_s": 5_000, "render_p50_ms": 50.0}
N_EVENTS, PER_TX = 100_000, 1_000
RENDER_REQUESTS = 40
CHUNK = 2_000  # the indexer's default range (blocks per eth_getLogs)


@dataclass
class BenchChain:
    node: Anvil
    w3: Web3
    world: object  # explorer.world.DemoWorld
    emitter: str
    emitter_block: int
    emitted: int
    generate_s: float


def make_chain(n_events: int, per_tx: int = PER_TX, say=print) -> BenchChain:
    from oml_chain.explorer.world import build_world

    node = start_anvil(extra_args=["--gas-limit", "100000000"])
    w3 = Web3(Web3.HTTPProvider(node.url, request_kwargs={"timeout": 120}))
    t0 = time.perf_counter()
    world = build_world(w3)
    say(f"demo world built in {time.perf_counter() - t0:.1f} s (OML {world.oml}, models {world.models})")
    art = compile_contracts()["BenchEventEmitter"]
    emitter, block = deploy_contract(w3, DEV_KEYS[9], art)
    contract = w3.eth.contract(address=emitter, abi=art.abi)
    sender = w3.eth.accounts[9]  # anvil's dev accounts are unlocked
    models = len(world.models)
    t0 = time.perf_counter()
    done = 0
    while done < n_events:
        n = min(per_tx, n_events - done)
        w3.provider.make_request("evm_increaseTime", [600])  # ten minutes a batch: charts get a time axis
        tx = contract.functions.emitBatch(models, world.hosts, n, done).transact({"from": sender, "gas": 30_000_000})
        receipt = w3.eth.wait_for_transaction_receipt(tx, poll_latency=0.01)
        assert receipt["status"] == 1 and len(receipt["logs"]) == n, receipt
        done += n
    generate_s = time.perf_counter() - t0
    say(f"{done:,} emitter events in {done // per_tx} transactions, {generate_s:.1f} s")
    return BenchChain(node, w3, world, emitter, block, done, generate_s)


def followed_addresses(db: ExplorerDB) -> list[str]:
    return sorted(c.address for c in db.contracts())


def index(chain: BenchChain, db_path: Path) -> tuple[dict, list[str]]:
    """The indexer from an empty file to the head, in one pass."""
    db = ExplorerDB.open(db_path)
    db.add_contract(chain.emitter, "oml", None, chain.emitter_block)
    ix = Indexer(chain.node.url, db, chain.world.oml, chain.world.factory, confirmations=0, chunk=CHUNK,
                 start_block=chain.world.deploy_block)
    rss_before = _peak_rss_mb()
    t0 = time.perf_counter()
    added = ix.sync_once()
    seconds = time.perf_counter() - t0
    addresses = followed_addresses(db)
    head = db.meta_int("last_block")
    db.close()
    ix.close()
    return {"events": added, "seconds": round(seconds, 3), "index_events_per_s": round(added / seconds),
            "ranges": ix.ranges_indexed, "followed_contracts": len(addresses), "last_block": head,
            "peak_rss_mb_before": rss_before, "peak_rss_mb_after": _peak_rss_mb(),
            "db_bytes": sum(p.stat().st_size for p in db_path.parent.glob(db_path.name + "*"))}, addresses


def baseline_raw_getlogs(chain: BenchChain, addresses: list[str], topics: list[str], span: int) -> dict:
    """eth_getLogs over the same history in `span`-block ranges, JSON-parsed only: the ceiling for any indexer
    that asks this node over HTTP."""
    rpc = JsonRpc(chain.node.url, timeout=120)
    head = int(rpc.call("eth_blockNumber", []), 16)
    t0 = time.perf_counter()
    n = 0
    for frm in range(chain.world.deploy_block, head + 1, span):
        logs = rpc.call("eth_getLogs", [{"fromBlock": hex(frm), "toBlock": hex(min(frm + span - 1, head)),
                                         "address": addresses, "topics": [topics]}])
        n += len(logs)
    seconds = time.perf_counter() - t0
    rpc.close()
    return {"events": n, "seconds": round(seconds, 3), "raw_getlogs_events_per_s": round(n / seconds),
            "range_blocks": span}


def baseline_web3(chain: BenchChain, sample_blocks: int) -> dict:
    """web3.py's usual path (w3.eth.get_logs + get_event_data) on the emitter's first `sample_blocks` blocks."""
    from eth_utils import event_abi_to_log_topic
    from web3._utils.events import get_event_data

    abi = compile_contracts()["OML"].abi
    by_topic = {event_abi_to_log_topic(e): e for e in abi if e.get("type") == "event"}
    t0 = time.perf_counter()
    logs = chain.w3.eth.get_logs({"address": chain.emitter, "fromBlock": chain.emitter_block,
                                  "toBlock": chain.emitter_block + sample_blocks})
    decoded = [get_event_data(chain.w3.codec, by_topic[bytes(lg["topics"][0])], lg) for lg in logs]
    seconds = time.perf_counter() - t0
    return {"events": len(decoded), "seconds": round(seconds, 3),
            "web3_decode_events_per_s": round(len(decoded) / seconds)}


# --- page renders ---------------------------------------------------------------------------------------------


def render_pages(chain: BenchChain, db_path: Path) -> list[tuple[str, str]]:
    """(label, path) of the pages timed: the overview, the busiest model, the busiest host."""
    db = ExplorerDB.open(db_path)
    model = db.conn.execute("SELECT model_id FROM events WHERE model_id IS NOT NULL GROUP BY model_id "
                            "ORDER BY COUNT(*) DESC LIMIT 1").fetchone()[0]
    host = db.conn.execute("SELECT host FROM events WHERE host IS NOT NULL GROUP BY host "
                           "ORDER BY COUNT(*) DESC LIMIT 1").fetchone()[0]
    db.close()
    return [("overview", "/"), ("model", f"/model/{model}"), ("host", f"/host/{host}")]


def measure_render(db_path: Path, pages: list[tuple[str, str]], rpc_url: str | None = None, oml: str | None = None,
                   requests_per_page: int = RENDER_REQUESTS) -> dict:
    """Serve web.py's app (`create_app` through `uvicorn_config`) over `db_path` with uvicorn on loopback, no
    background indexer (the file is complete), chain reads from `rpc_url`; time GETs of `pages`."""
    import uvicorn

    from oml_chain.explorer.web import ExplorerConfig, uvicorn_config

    port = free_port()
    config = ExplorerConfig(db_path=str(db_path), rpc_url=rpc_url, oml=oml, index=False, port=port)
    server = uvicorn.Server(uvicorn_config(config))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the explorer app did not start")
        time.sleep(0.02)
    out: dict = {}
    try:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        for label, path in pages:
            first, body = _get(conn, path)
            times = [_get(conn, path)[0] for _ in range(requests_per_page)]
            out[label] = {"path": path, "bytes": len(body), "first_ms": round(first, 2),
                          "p50_ms": round(statistics.median(times), 2),
                          "p95_ms": round(sorted(times)[int(0.95 * (len(times) - 1))], 2)}
        conn.close()
    finally:
        server.should_exit = True
        thread.join(30)
    out["render_p50_ms"] = max(v["p50_ms"] for v in out.values())  # the slowest page's median
    return out


def _code_version() -> dict:
    """The commit measured, and the explorer files that differed from it (the web half may be mid-change)."""
    import subprocess

    def git(*a):
        return subprocess.run(["git", *a], cwd=ROOT, capture_output=True, text=True).stdout.strip()

    return {"commit": git("rev-parse", "--short", "HEAD"),
            "uncommitted": git("status", "--porcelain", "--", "oml_chain/explorer", "benchmarks/bench_explorer.py",
                               "contracts/bench").splitlines()}


def _peak_rss_mb() -> float:
    import resource

    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def _get(conn: http.client.HTTPConnection, path: str) -> tuple[float, bytes]:
    t0 = time.perf_counter()
    conn.request("GET", path)
    r = conn.getresponse()
    body = r.read()
    ms = (time.perf_counter() - t0) * 1000
    if r.status != 200:
        raise RuntimeError(f"GET {path}: HTTP {r.status}: {body[:300]!r}")
    return ms, body


# --- main -----------------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--events", type=int, default=N_EVENTS, help="emitter events to generate (default 100,000)")
    ap.add_argument("--no-render", action="store_true", help="skip the page render timings")
    ap.add_argument("--out", type=Path, default=RESULTS, help="where to write the JSON results")
    ap.add_argument("--keep-db", type=Path, default=None, help="copy the indexed database here (for profiling pages)")
    args = ap.parse_args(argv)

    workdir = Path(tempfile.mkdtemp(prefix="oml-bench-explorer-"))
    chain = make_chain(args.events)
    try:
        db_path = workdir / "explorer.db"
        indexed, addresses = index(chain, db_path)
        print(f"indexer: {indexed['events']:,} events in {indexed['seconds']} s = "
              f"{indexed['index_events_per_s']:,} events/s")
        topics = sorted({t for specs in load_specs().values() for t in specs})
        raw = baseline_raw_getlogs(chain, addresses, topics, span=CHUNK)  # the indexer's ranges
        print(f"raw eth_getLogs + JSON: {raw['events']:,} events in {raw['seconds']} s = "
              f"{raw['raw_getlogs_events_per_s']:,} events/s")
        if raw["events"] != indexed["events"]:
            raise SystemExit(f"the indexer stored {indexed['events']} events, the chain has {raw['events']}")
        w3base = baseline_web3(chain, sample_blocks=10)
        print(f"web3.py get_logs + get_event_data: {w3base['web3_decode_events_per_s']:,} events/s "
              f"(sample of {w3base['events']:,})")
        result = {
            "benchmark": "explorer",
            "machine": {"platform": platform.platform(), "python": platform.python_version(),
                        "cpus": os.cpu_count(), "note": "2 cores shared with other jobs"},
            "code": _code_version(),
            "chain": {"world": "oml_chain/explorer/world.py demo world (real OML + community activity)",
                      "emitter": "contracts/bench/BenchEventEmitter.sol: OML's own event declarations emitted in "
                                 "bulk (1,000 per transaction), followed by the indexer as a second OML-kind "
                                 "contract; the generated events are not real protocol actions",
                      "emitted_events": chain.emitted, "generate_s": round(chain.generate_s, 1),
                      "world_events": indexed["events"] - chain.emitted},
            "index": indexed, "baseline_raw_getlogs": raw, "baseline_web3": w3base,
            "index_events_per_s": indexed["index_events_per_s"],
            "index_vs_raw_getlogs": round(indexed["index_events_per_s"] / raw["raw_getlogs_events_per_s"], 3),
            "index_vs_web3": round(indexed["index_events_per_s"] / w3base["web3_decode_events_per_s"], 2),
            "targets": TARGETS,
        }
        if args.keep_db:
            shutil.copy(db_path, args.keep_db)
        if not args.no_render:
            render = measure_render(db_path, render_pages(chain, db_path), chain.node.url, chain.world.oml)
            for label, v in render.items():
                if isinstance(v, dict):
                    print(f"render {label:9s} {v['path']}: first {v['first_ms']} ms, p50 {v['p50_ms']} ms, "
                          f"p95 {v['p95_ms']} ms ({v['bytes']:,} bytes)")
            result["render"] = render
            result["render_p50_ms"] = render["render_p50_ms"]
        result["targets_met"] = {
            "index_events_per_s": result["index_events_per_s"] >= TARGETS["index_events_per_s"],
            **({"render_p50_ms": result["render_p50_ms"] <= TARGETS["render_p50_ms"]}
               if "render_p50_ms" in result else {})}
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=1) + "\n")
        print(f"index / raw eth_getLogs = {result['index_vs_raw_getlogs']}, index / web3.py = "
              f"{result['index_vs_web3']}x; targets met: {result['targets_met']}; wrote {args.out}")
        return result
    finally:
        chain.node.stop()
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
