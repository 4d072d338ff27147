"""`make demo` / `python -m oml_chain.demo`: the whole OML system end to end on this machine.

A thin script over `oml_chain.demo.orchestrate.run_world`: parses a few options,
prints one line per phase, a summary table at the end, writes the summary
JSON, and exits non-zero when any expectation fails. Every process it starts
is stopped on exit, on failure and on Ctrl-C.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from .orchestrate import ETH, Summary, WorldConfig, run_world
from .procs import ProcessGroup, sigterm_as_interrupt
from ..chain.status import format_table


def _eth(wei: int) -> str:
    return f"{wei / ETH:.6f}"


def render(summary: Summary) -> str:
    rows = [[label, h["address"][:10] + "…", _eth(h["stake_before"]), _eth(h["stake_after"]), _eth(h["escrow"]),
             h["settled_queries"]] for label, h in summary.hosts.items()]
    out = ["", format_table(rows, ["host", "address", "stake before", "stake after", "escrow", "paid queries"]), ""]
    out.append(format_table([
        ["model id", summary.model_id],
        ["fee revenue after K queries (ETH)", _eth(summary.revenue_fees)],
        ["model revenue at the end (ETH, fees + treasury share of slash)", _eth(summary.revenue_final)],
        ["prover reward (ETH)", _eth(summary.prover_reward)],
        ["fingerprints burned", summary.fingerprints_burned],
        ["user queries with a verified attestation", summary.queries_attested],
        *([["evading rogue host (top two tokens swapped where p > τ)",
            f"τ = {summary.evasion['tau']}: {summary.evasion['fired']}/{summary.evasion['probes']} keys fired, "
            f"{'slashed' if summary.evasion['slashed'] else 'NOT slashed'}"]] if summary.evasion else []),
        ["streamed chat answer through the gateway", f"{summary.streamed.get('chunks', 0)} chunks, attestation "
         f"{'verified' if summary.streamed.get('verified') else 'NOT verified'}"],
    ], ["figure", "value"]))
    c = summary.community
    if c.get("claims"):
        supply = sum(v["shares"] for v in c["claims"].values())
        rows = [[addr[:10] + "…", f"{v['shares'] * 100 // supply}%", _eth(v["claimed"]), _eth(v["expected"])]
                for addr, v in c["claims"].items()]
        rows.append(["vault", "", f"pulled {_eth(c['pulled'])}", f"dust {c['dust']} wei"])
        out += ["", format_table(rows, ["shareholder", "shares", "claimed (ETH)", "pro-rata (ETH)"])]
    if c.get("proposal"):
        pr = c["proposal"]
        out += ["", format_table([[pr["description"], pr["state_after_vote"], pr["final_state"],
                                   pr["executed_early"]]],
                                 ["proposal", "after the vote", "final", "execute before the delay"])]
    out += ["", format_table([[p.name, f"{p.seconds:.1f}"] for p in summary.phases], ["phase", "seconds"])]
    out += ["", format_table([["PASS" if c.ok else "FAIL", c.name, c.detail] for c in summary.checks],
                             ["", "expectation", "detail"])]
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m oml_chain.demo", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--preset", default="demo", choices=["tiny", "demo"], help="base model preset")
    p.add_argument("--fingerprints", type=int, default=32, help="number of fingerprints (N keys)")
    p.add_argument("--responses-per-key", type=int, default=2, choices=[1, 2, 3],
                   help="responses per key (2: the evading host that swaps in the runner-up is caught too)")
    p.add_argument("--queries", type=int, default=20, help="user queries to the honest host (K)")
    p.add_argument("--out", type=Path, default=Path("out/demo"), help="where logs, databases and summary go")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    a = p.parse_args(argv)
    import logging

    import torch

    from fingerprinting.models import cpu_threads_default

    logging.basicConfig(level=logging.WARNING, format="         %(name)s: %(message)s")
    torch.set_num_threads(cpu_threads_default())
    cfg = WorldConfig(preset=a.preset, n_fingerprints=a.fingerprints, responses_per_key=a.responses_per_key,
                      queries=a.queries, out_dir=a.out, progress=not a.quiet)
    say = lambda msg: print(msg, flush=True)  # noqa: E731
    say(f"OML demo: {a.preset} model, N={a.fingerprints} fingerprints × {a.responses_per_key} responses, "
        f"K={a.queries} queries; logs in {a.out}/run/")
    t0 = time.monotonic()
    sigterm_as_interrupt()
    procs = ProcessGroup()
    try:
        summary = run_world(cfg, say, procs)
    except KeyboardInterrupt:
        say("interrupted; stopping every service")
        return 130
    except Exception as exc:  # one clear line; details in the service logs under --out
        say(f"demo failed: {exc.__class__.__name__}: {exc}")
        return 1
    finally:
        procs.close()
    total = time.monotonic() - t0
    say(render(summary))
    data = summary.to_dict()
    data["total_seconds"] = round(total, 1)
    path = Path(a.out) / "summary.json"
    path.write_text(json.dumps(data, indent=2) + "\n")
    say(f"\n{'all expectations met' if summary.ok else 'SOME EXPECTATIONS FAILED'} in {total:.0f} s; "
        f"summary in {path}")
    return 0 if summary.ok else 1


if __name__ == "__main__":
    sys.exit(main())
