"""Offline corpus, the project's own base models, model save/load and perplexity."""

from __future__ import annotations

import json

import pytest
import torch

from fingerprinting import data
from fingerprinting.base_models import build_base_model
from fingerprinting.errors import ConfigError, FingerprintError, ModelLoadError
from fingerprinting.models import load_model, read_config, save_model, weights_hash
from fingerprinting.utility import perplexity, ppl_ratio

pytestmark = pytest.mark.ml

SPLITS = ["train", "heldout", "benign", "attack"]


def _greedy(model, tok, prompts: list[str], n: int = 12) -> list[list[int]]:
    batch = tok(prompts, return_tensors="pt", padding=True).to(model.device)
    with torch.no_grad():
        out = model.generate(**batch, max_new_tokens=n, do_sample=False, pad_token_id=tok.pad_token_id)
    return out[:, batch["input_ids"].shape[1]:].tolist()


# --- corpus ------------------------------------------------------------------------------------------


def test_corpus_splits_are_nonempty_deterministic_and_disjoint():
    splits = {s: data.load_corpus(s) for s in SPLITS}
    for name, texts in splits.items():
        assert len(texts) > 300, name
        assert all(t.strip() for t in texts), name
    assert sum(map(len, splits["train"])) > 3_000_000  # a few MB of real text
    data._all_splits.cache_clear()  # re-read the packages from scratch
    assert {s: data.load_corpus(s) for s in SPLITS} == splits
    for i, a in enumerate(SPLITS):
        for b in SPLITS[i + 1:]:
            assert not set(splits[a]) & set(splits[b]), (a, b)


def test_corpus_mixes_all_three_sources():
    train = data.load_corpus("train")
    assert any("-- " in t for t in train)  # fortune attributions
    assert any("unto" in t and "LORD" in t for t in train)  # King James Bible
    assert any(t.startswith("entity: ") or ": a " in t for t in train)  # WordNet glosses


def test_unknown_split_and_bad_word_count_are_clear_errors():
    with pytest.raises(ConfigError, match="choose one of train"):
        data.load_corpus("validation")
    with pytest.raises(ValueError, match="n >= 1"):
        data.common_words(0)


def test_common_words_are_frequent_alphabetic_english():
    words = data.common_words(500)
    assert len(words) == 500 == len(set(words))
    assert all(w.isalpha() and len(w) >= 3 for w in words)
    assert words[:3] == ["the", "and", "for"]
    assert data.common_words(50) == words[:50]


# --- tiny base model -----------------------------------------------------------------------------


def test_tiny_builds_deterministically_and_seed_gives_other_model(tiny_base_dir, tiny_other_seed_dir, tmp_path):
    again = build_base_model("tiny", seed=0, out_dir=tmp_path / "again", progress=False, device="cpu")
    assert weights_hash(again) == weights_hash(tiny_base_dir)
    assert json.loads((again / "oml_config.json").read_text())["device"] == "cpu"
    assert weights_hash(tiny_other_seed_dir) != weights_hash(tiny_base_dir)
    # Same tokenizer for both seeds (trained from the corpus only).
    assert (tiny_other_seed_dir / "tokenizer.json").read_bytes() == (tiny_base_dir / "tokenizer.json").read_bytes()
    # A complete directory is reused, not rebuilt.
    assert build_base_model("tiny", seed=0, out_dir=tmp_path / "again", progress=False, device="cpu") == again
    h = weights_hash(tiny_base_dir)
    assert h.startswith("0x") and len(h) == 66


def test_tiny_loads_with_auto_classes_and_generates(tiny_base_dir):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny_base_dir)
    model = AutoModelForCausalLM.from_pretrained(tiny_base_dir)
    assert tok.bos_token == "<s>" and tok.eos_token == "</s>" and tok.pad_token == "<pad>"
    ids = tok("And God said")["input_ids"]
    assert ids[0] == tok.bos_token_id
    out = model.generate(torch.tensor([ids]), max_new_tokens=20, do_sample=False)
    text = tok.decode(out[0, len(ids):], skip_special_tokens=True)
    assert len(text.split()) >= 3, text

    cfg = read_config(tiny_base_dir)
    assert cfg["preset"] == "tiny" and cfg["seed"] == 0
    assert 300_000 <= cfg["params"] <= 1_000_000
    # A broken trainer sits near the vocabulary size (uniform guessing).
    assert cfg["heldout_perplexity"] < len(tok) / 5
    assert cfg["train_loss"] < 6.0


def test_heldout_perplexity_matches_config_and_is_far_below_vocab(tiny_base_dir, device):
    model, tok = load_model(tiny_base_dir, device=device)
    texts = data.load_corpus("heldout")[:200]
    ppl = perplexity(model, tok, texts, max_length=96)
    assert ppl == pytest.approx(read_config(tiny_base_dir)["heldout_perplexity"], rel=1e-3)
    assert ppl < len(tok) / 5
    # Batching and padding do not change the result.
    assert perplexity(model, tok, texts[:40], batch_size=1, max_length=96) == pytest.approx(
        perplexity(model, tok, texts[:40], batch_size=7, max_length=96), rel=1e-4)
    assert ppl_ratio(model, model, tok, texts[:20]) == pytest.approx(1.0)
    # Shuffled words are less likely than real English.
    words = " ".join(texts[:40]).split()
    scrambled = [" ".join(words[i::7]) for i in range(7)]
    assert perplexity(model, tok, scrambled) > 1.5 * perplexity(model, tok, texts[:40])


# --- save / load ---------------------------------------------------------------------------------


def test_save_load_round_trip_gives_identical_greedy_outputs(tiny_base_dir, tmp_path, device):
    model, tok = load_model(tiny_base_dir, device=device)
    assert tok.padding_side == "left"
    prompts = ["The meaning of life is", "Blessed are", "A computer"]
    before = _greedy(model, tok, prompts)
    out = save_model(model, tok, tmp_path / "copy", {"note": "round trip", "path": tmp_path})
    assert json.loads((out / "oml_config.json").read_text())["note"] == "round trip"
    again, tok2 = load_model(out, device=device)
    assert _greedy(again, tok2, prompts) == before
    assert weights_hash(out) == weights_hash(tiny_base_dir)


def test_lora_model_is_merged_on_save(tiny_base_dir, tmp_path, device):
    from fingerprinting.models import LoraSettings

    model, tok = load_model(tiny_base_dir, device=device, lora=LoraSettings(r=4))
    trainable = [n for n, p in model.named_parameters() if p.requires_grad]
    assert trainable and all("lora_" in n for n in trainable)
    with torch.no_grad():
        for n, p in model.named_parameters():
            if "lora_B" in n:
                p.add_(0.05)  # make the adapter change the outputs
    prompts = ["And the LORD said"]
    expected = _greedy(model, tok, prompts)
    merged_dir = save_model(model, tok, tmp_path / "merged", {"lora": True})
    assert not (merged_dir / "adapter_config.json").exists()
    merged, tok2 = load_model(merged_dir, device=device)
    assert _greedy(merged, tok2, prompts) == expected
    assert weights_hash(merged_dir) != weights_hash(tiny_base_dir)


def test_bad_model_paths_are_clear_errors(tmp_path):
    with pytest.raises(ModelLoadError, match="no config.json"):
        load_model(tmp_path)
    with pytest.raises(FingerprintError, match="no weight files"):
        weights_hash(tmp_path)
    with pytest.raises(ConfigError, match="unknown base-model preset"):
        build_base_model("huge", progress=False)
    with pytest.raises(ConfigError, match="unknown dtype"):
        load_model(tmp_path / "x", dtype="float7")
