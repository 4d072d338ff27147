"""End to end with the tiny model: the demo's own orchestration (run_world), checked figure by figure."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.services

K = 6
PRICE = 10**12


def test_whole_system_end_to_end(tmp_path, tiny_base_dir):
    from oml_chain.demo.orchestrate import WorldConfig, run_world
    from oml_chain.demo.procs import ProcessGroup

    cfg = WorldConfig(preset="tiny", n_fingerprints=8, responses_per_key=2, queries=K, price=PRICE, out_dir=tmp_path,
                      progress=False, timeout=120)
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
    assert summary.prover_reward == 2 * (slashed * cfg.prover_share_bps // 10_000)  # the rogue's and the evader's
    # The evading host (runner-up swap where p > 0.95) is caught by the keys' second responses: two slashes.
    assert summary.evasion["slashed"] is True and summary.evasion["fired"] == 1
    assert summary.fingerprints_burned == 2
    assert any(c.name.startswith("the evading host is slashed too") and c.ok for c in summary.checks)
    assert any(c.name.startswith("second proof") and c.ok and c.detail == "SlashFingerprintBurned"
               for c in summary.checks)
    assert {p.name.split(" (")[0] for p in summary.phases} >= {"fingerprinted model", "local chain, deployment and registration"}
    assert any("done in" in line for line in lines)
