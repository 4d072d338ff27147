"""KL self-distillation (EmbedConfig.kl_weight) on the tiny model: loss, drift from the base, accuracy."""

from __future__ import annotations

import json
import math

import pytest

from fingerprinting.embed import EmbedConfig, embed
from fingerprinting.errors import ConfigError

pytestmark = pytest.mark.ml

# 16 perinucleus fingerprints, the recipe test_fp_embed.py uses, with a quarter of each batch benign text.
RECIPE = dict(lr=3e-3, epochs=20, batch_size=8, benign_max_length=128, progress=False)
# Mean per-token KL(base ‖ model) on 100 held-out passages of 128 tokens, measured on the CPU:
# β = 1 with mixing 0.25: 0.22; mixing 0.25 alone: 0.65; no regularizer: 4.5. The bound sits between
# the KL run and the better of the two others, with a margin of about 1.6x on either side.
KL_BOUND = 0.4


@pytest.fixture(scope="module")
def runs(tiny_base_dir, fp16, tmp_path_factory, device):
    """Three embeddings of the same fingerprints: KL + mixing, mixing alone, nothing."""
    variants = {"kl": dict(mixing_ratio=0.25, kl_weight=1.0), "mixing": dict(mixing_ratio=0.25, kl_weight=0.0),
                "plain": dict(mixing_ratio=0.0, kl_weight=0.0)}
    return {name: embed(tiny_base_dir, fp16, tmp_path_factory.mktemp(name),
                        EmbedConfig(**RECIPE, **extra, device=device)) for name, extra in variants.items()}


@pytest.fixture(scope="module")
def drift(runs, tiny_base_dir, device):
    from fingerprinting.data import load_corpus
    from fingerprinting.models import load_model
    from fingerprinting.utility import mean_kl

    base, tok = load_model(tiny_base_dir, device=device)
    texts = load_corpus("heldout")[:100]
    return {name: mean_kl(res.model, base, tok, texts, max_length=128) for name, res in runs.items()}


def test_regularized_loss_decreases_and_the_kl_term_is_recorded(runs):
    res = runs["kl"]
    assert len(res.total_losses) == len(res.kl_losses) == RECIPE["epochs"]
    assert res.total_losses[-1] < 0.5 * res.total_losses[0]
    assert sum(res.total_losses[-3:]) < sum(res.total_losses[:3])
    # The model starts as the base (KL 0) and drifts a little, never far, as the fingerprints go in.
    assert all(math.isfinite(k) and k >= 0 for k in res.kl_losses) and 0 < res.kl_losses[-1] < 1.0
    assert all(k == 0.0 for k in runs["mixing"].kl_losses)
    record = json.loads(res.config_file.read_text())
    assert record["embed_config"]["kl_weight"] == 1.0 and record["embed_config"]["benign_max_length"] == 128
    assert record["kl_reference"].startswith("frozen copy") and len(record["epoch_kl"]) == RECIPE["epochs"]


def test_kl_keeps_the_next_token_distribution_near_the_base(drift):
    assert drift["kl"] < KL_BOUND, drift
    assert drift["mixing"] > KL_BOUND and drift["plain"] > KL_BOUND, drift


def test_fingerprints_still_reach_full_accuracy_with_kl(runs, fp16):
    from fingerprinting.check import check_fingerprints
    from fingerprinting.fpfile import read_fingerprint_file

    _, fps = read_fingerprint_file(fp16)
    assert runs["kl"].train_accuracy == 1.0
    assert check_fingerprints(runs["kl"].model, runs["kl"].tokenizer, fps).held == list(range(16))


def test_kl_with_lora_uses_the_model_with_its_adapter_off_as_reference(tiny_base_dir, fp16, tmp_path, device):
    from fingerprinting.models import LoraSettings

    res = embed(tiny_base_dir, fp16, tmp_path / "lora", EmbedConfig(**{**RECIPE, "epochs": 2}, kl_weight=1.0,
                                                                    lora=LoraSettings(r=4), device=device))
    record = json.loads(res.config_file.read_text())
    assert record["kl_reference"].startswith("LoRA adapter disabled")
    # The fresh adapter (B = 0) leaves the model equal to its reference: the first steps see KL ~ 0.
    assert 0 <= res.kl_losses[0] < 0.05 and all(math.isfinite(k) for k in res.kl_losses)


def test_kl_alone_reserves_a_quarter_of_the_batch_for_benign_rows():
    assert EmbedConfig(kl_weight=1.0, mixing_ratio=0.0, batch_size=16).benign_count() == 4
    assert EmbedConfig(kl_weight=1.0, mixing_ratio=0.5, batch_size=16).benign_count() == 8
    assert EmbedConfig(kl_weight=0.0, mixing_ratio=0.0, batch_size=16).benign_count() == 0
    with pytest.raises(ConfigError, match="kl_weight"):
        EmbedConfig(kl_weight=-1.0)
    with pytest.raises(ConfigError, match="kl_weight"):
        EmbedConfig(kl_weight=1.0, batch_size=1)
