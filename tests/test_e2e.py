"""End to end with the tiny model: the demo's own orchestration (run_world), checked figure by figure."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.services

K = 6
PRICE = 10**12


def test_whole_system_end_to_end(tmp_path, fingerprinted_tiny):
    from oml_chain.demo.orchestrate import WorldConfig, run_world
    from oml_chain.demo.procs import ProcessGroup

    cfg = WorldConfig(preset="tiny", n_fingerprints=16, queries=K, price=PRICE, out_dir=tmp_path, progress=False,
                      timeout=120)
    lines: list[str] = []
    with ProcessGroup() as procs:
        summary = run_world(cfg, lines.append, procs)
        services = list(procs.services)
    assert all(s.process.poll() is not None for s in services)  # everything stopped
    failed = [c for c in summary.checks if not c.ok]
    assert not failed, failed
    honest, rogue = summary.hosts["honest host"], summary.hosts["rogue host"]
    assert honest["stake_after"] == honest["stake_before"] == cfg.stake
    assert summary.revenue_fees == K * PRICE
    slashed = rogue["stake_before"] * cfg.slash_bps // 10_000
    assert rogue["stake_after"] == rogue["stake_before"] - slashed
    assert summary.prover_reward == slashed * cfg.prover_share_bps // 10_000
    assert summary.fingerprints_burned == 1
    assert any(c.name.startswith("second proof") and c.ok and c.detail == "SlashFingerprintBurned"
               for c in summary.checks)
    assert {p.name.split(" (")[0] for p in summary.phases} >= {"fingerprinted model", "local chain, deployment and registration"}
    assert any("done in" in line for line in lines)
