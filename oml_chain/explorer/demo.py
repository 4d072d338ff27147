"""`python -m oml_chain.explorer.demo` (`make explorer`): the explorer on a demo world, left running.

Starts anvil, plays the demo world (world.py: three models, one community-owned, hosts, settlements over two
days of chain time, governance, two slashes), records it in a deployments file, starts
`oml explorer serve` on 127.0.0.1:8710 over a fresh database, waits until it has indexed the whole world,
prints the URL and keeps both running until Ctrl-C (or SIGTERM).
"""

from __future__ import annotations

import argparse
import json
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from ..chain.anvil import start_anvil


def _status(url: str) -> dict | None:
    try:
        with urllib.request.urlopen(url + "/api/status", timeout=2) as r:
            return json.loads(r.read())
    except Exception:  # noqa: BLE001 - not up yet
        return None


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m oml_chain.explorer.demo", description=__doc__.splitlines()[0])
    ap.add_argument("--host", default="127.0.0.1", help="interface the explorer listens on (default 127.0.0.1)")
    ap.add_argument("--port", type=int, default=8710, help="explorer port (default 8710)")
    ap.add_argument("--dir", type=Path, default=Path(".oml") / "explorer-demo",
                    help="where the deployments file, the database and the logs go (default .oml/explorer-demo)")
    ap.add_argument("--ready-timeout", type=float, default=120.0, help="seconds to wait for the explorer")
    args = ap.parse_args(argv)

    from web3 import Web3

    from ..services.validation import check_port_free
    from .world import build_world

    t0 = time.monotonic()

    def say(msg: str) -> None:
        print(f"[{time.monotonic() - t0:6.1f}s] {msg}", flush=True)

    check_port_free("the explorer", args.host, args.port)
    shutil.rmtree(args.dir, ignore_errors=True)
    args.dir.mkdir(parents=True)
    deployments, db = args.dir / "deployments.json", args.dir / "explorer.db"
    node = start_anvil(log_path=str(args.dir / "anvil.log"))
    serve = None
    stop = {"now": False}

    def on_signal(*_):
        stop["now"] = True

    signal.signal(signal.SIGTERM, on_signal)
    try:
        say(f"anvil at {node.url}")
        w3 = Web3(Web3.HTTPProvider(node.url, request_kwargs={"timeout": 30}))
        world = build_world(w3, deployments=deployments, say=say)
        log = open(args.dir / "explorer.log", "ab")
        serve = subprocess.Popen(
            [sys.executable, "-m", "oml_chain.cli", "explorer", "serve", "--rpc-url", node.url, "--deployments",
             str(deployments), "--db", str(db), "--confirmations", "0", "--poll-interval", "1", "--host", args.host,
             "--port", str(args.port), "--log-level", "warning"], stdout=log, stderr=subprocess.STDOUT)
        url = f"http://{args.host}:{args.port}"
        say(f"starting `oml explorer serve` on {url} (log {args.dir / 'explorer.log'})")
        deadline = time.monotonic() + args.ready_timeout
        while True:
            st = _status(url)
            if st and st.get("last_block") is not None and st["last_block"] >= world.last_block:
                break
            if serve.poll() is not None:
                say(f"the explorer exited with status {serve.returncode}; see {args.dir / 'explorer.log'}")
                return 1
            if time.monotonic() > deadline or stop["now"]:
                say("the explorer did not index the world in time")
                return 1
            time.sleep(0.2)
        s = world.slashes[0]
        say(f"OML Explorer ready at {url}  ({st['events']} events indexed up to block {st['last_block']})")
        print(f"  model pages: {url}/model/1 … {url}/model/3 (community)\n"
              f"  a slash:     {url}/slash/{s.model_id}/{s.host}/{s.index}\n"
              f"  JSON API:    {url}/api/overview\n"
              f"  chain:       {node.url} (deployments {deployments})\n"
              "Ctrl-C stops the explorer and the chain.", flush=True)
        while not stop["now"] and serve.poll() is None:
            time.sleep(0.5)
        return 0 if stop["now"] else (serve.returncode or 1)
    except KeyboardInterrupt:
        return 0
    finally:
        if serve is not None and serve.poll() is None:
            serve.send_signal(signal.SIGINT)
            try:
                serve.wait(10)
            except subprocess.TimeoutExpired:
                serve.kill()
        node.stop()
        say("stopped")


if __name__ == "__main__":
    sys.exit(main())
