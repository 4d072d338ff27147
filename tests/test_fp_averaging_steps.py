"""Model averaging after every optimizer step (EmbedConfig.averaging_every_steps), on the tiny model."""

from __future__ import annotations

import pytest

from fingerprinting.embed import EmbedConfig, embed
from fingerprinting.errors import ConfigError

pytestmark = pytest.mark.ml


def test_negative_averaging_every_steps_is_rejected():
    with pytest.raises(ConfigError, match="averaging_every_steps"):
        EmbedConfig(averaging_every_steps=-1)


def test_per_step_averaging_keeps_weights_within_one_step_of_the_base(tiny_base_dir, tmp_path, device):
    from fingerprinting.generate import GenerateConfig, generate_fingerprint_file
    from fingerprinting.models import load_model

    fp, _ = generate_fingerprint_file(tiny_base_dir, tmp_path / "fp.jsonl", GenerateConfig(n=16, seed=3), device=device)
    base, _ = load_model(tiny_base_dir, device=device)
    lr = 1e-3
    common = dict(lr=lr, epochs=2, batch_size=4, kl_weight=0.0, device=device, progress=False)  # 8 optimizer steps

    def max_shift(cfg: EmbedConfig, name: str) -> float:
        res = embed(tiny_base_dir, fp, tmp_path / name, cfg)
        assert res.steps == 8
        return max(float((p.detach() - q.detach()).abs().max()) for p, q in zip(res.model.parameters(), base.parameters()))

    free = max_shift(EmbedConfig(**common), "free")
    # θ ← ½θ + ½θ₀ after every step: the shift d obeys d ← ½(d + u), so |d| <= max |u|, one Adam
    # step (at most ~3.2·lr per coordinate with the default betas); without averaging steps add up.
    averaged = max_shift(EmbedConfig(**common, averaging_lambda=0.5, averaging_every_steps=1), "avg")
    assert averaged <= 4 * lr
    assert free > 4 * lr
