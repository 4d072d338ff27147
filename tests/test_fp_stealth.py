"""Stealth: the exact AUROC, the likelihood detectors on the tiny model, the real-text-matched default keys."""

from __future__ import annotations

import json
import random

import pytest
from click.testing import CliRunner

from fingerprinting.errors import ConfigError
from fingerprinting.stealth import (PromptScores, auroc, compare, measure_stealth, null_sd, real_prompts,
                                    score_prompts, two_sided)
from fingerprinting.strategies.english_keys import RealMatcher

pytestmark = pytest.mark.ml


# --------------------------------------------------------------------------- the metric, no model


@pytest.mark.parametrize("pos,neg,expected", [
    ([3, 4], [1, 2], 1.0),  # every positive above every negative
    ([1, 2], [3, 4], 0.0),
    ([1, 3], [2, 4], 0.25),  # pairs (1,2)(1,4)(3,2)(3,4): one of four positive-higher
    ([2, 2], [2], 0.5),  # ties count one half
    ([1, 2, 3], [2], 0.5),  # (1<2) 0, (2=2) ½, (3>2) 1 -> 1.5 / 3
    ([5.0], [1.0, 5.0, 9.0], 0.5),
])
def test_auroc_is_the_exact_mann_whitney_probability(pos, neg, expected):
    assert auroc(pos, neg) == pytest.approx(expected, abs=1e-12)
    assert two_sided(auroc(pos, neg)) == pytest.approx(max(expected, 1 - expected))


def test_auroc_matches_brute_force_on_random_scores_with_ties():
    rng = random.Random(0)
    pos = [rng.randint(0, 20) for _ in range(37)]
    neg = [rng.randint(0, 25) for _ in range(53)]
    brute = sum((p > n) + 0.5 * (p == n) for p in pos for n in neg) / (len(pos) * len(neg))
    assert auroc(pos, neg) == pytest.approx(brute, abs=1e-12)
    with pytest.raises(ConfigError):
        auroc([], [1.0])


def test_planted_separable_and_inseparable_score_sets():
    rng = random.Random(1)
    real = PromptScores(nll=[rng.gauss(80, 8) for _ in range(300)], tokens=[16] * 300, chars=[40] * 300)
    far = PromptScores(nll=[rng.gauss(140, 8) for _ in range(100)], tokens=[16] * 100, chars=[40] * 100)
    same = PromptScores(nll=[rng.gauss(80, 8) for _ in range(100)], tokens=[16] * 100, chars=[40] * 100)
    sep, insep = compare(far, real), compare(same, real)
    assert all(d.two_sided == 1.0 and d.direction == "keys higher" for d in sep.detectors.values())
    assert insep.worst <= 0.5 + 3 * null_sd(100, 300)


def test_real_matcher_quotas_follow_the_real_shares_and_reject_out_of_range():
    real = [(x / 100, 2.0 + (37 * x % 100) / 100) for x in range(100)]  # NLL 0..0.99, chars/token 2..2.99
    one = RealMatcher(real, bins=4, dims=1)
    assert one.nll_range == (0.0, 0.99)
    assert one.quotas(40) == {(0,): 10, (1,): 10, (2,): 10, (3,): 10}  # quartiles: equal real shares
    assert one.cell((0.0, 9.0)) == (0,) and one.cell((0.99, 0.0)) == (3,)  # closed range; chars ignored
    assert one.cell((-0.01, 2.0)) is None and one.cell((1.0, 2.0)) is None
    two = RealMatcher(real, bins=4, dims=2)
    q = two.quotas(37)
    assert sum(q.values()) == 37 and set(q) <= set(two.share)
    assert all(abs(q[c] - 37 * two.share[c]) < 1 for c in q)  # largest remainder: within one key of the share
    assert two.cell((0.5, 3.5)) is None  # chars/token outside the real range


# --------------------------------------------------------------------------- on the tiny base model


@pytest.fixture(scope="module")
def tiny(tiny_base_dir):
    from fingerprinting.models import load_model

    return load_model(tiny_base_dir, device="cpu")


def test_scores_are_the_models_own_nll(tiny):
    import torch

    model, tok = tiny
    text = "The quick brown fox jumps over the lazy dog."
    s = score_prompts(model, tok, [text, "Hello there"])
    ids = tok(text, return_tensors="pt")["input_ids"]
    with torch.no_grad():
        logits = model(input_ids=ids).logits[0, :-1]
    per_token = torch.nn.functional.cross_entropy(logits, ids[0, 1:], reduction="none")  # every token after BOS
    assert s.tokens[0] == ids.shape[1] - 1 and s.chars[0] == len(text)
    assert s.mean_nll()[0] == pytest.approx(float(per_token.mean()), rel=1e-4)
    assert s.nll_std()[0] == pytest.approx(float(per_token.std(unbiased=False)), rel=1e-3)
    assert s.top1_rate()[0] == pytest.approx(float((logits.argmax(-1) == ids[0, 1:]).float().mean()))


def test_real_prompts_have_the_key_lengths(tiny):
    _, tok = tiny
    prompts = real_prompts(tok, [5, 9, 12], 30)
    assert len(prompts) == len(set(prompts)) == 30
    lengths = [len(tok(p, add_special_tokens=False)["input_ids"]) for p in prompts]
    assert all(abs(n - [5, 9, 12][i % 3]) <= 1 for i, n in enumerate(lengths))  # re-tokenising may shift by one


def test_random_tokens_are_separable_and_held_out_text_is_not(tiny):
    from fingerprinting.data import load_corpus
    from fingerprinting.generate import GenerateConfig, generate_fingerprints

    model, tok = tiny
    _, fps = generate_fingerprints(model, tok, GenerateConfig(n=64, key_strategy="random_tokens",
                                                              response_strategy="english_random", seed=0))
    assert measure_stealth(model, tok, [f.key for f in fps], n_real=200).worst >= 0.95
    # "Keys" drawn from the same distribution as the real prompts: other held-out passages cut to 16 tokens.
    passages = load_corpus("heldout")
    fake_keys = real_prompts(tok, [16], 100, passages=passages[300:])
    res = measure_stealth(model, tok, fake_keys, n_real=200, passages=passages[:300])
    assert res.worst <= 0.5 + 3 * res.null_sd


def test_default_english_keys_match_real_text_where_the_paper_setting_does_not(tiny):
    from fingerprinting.strategies import GenerationContext, make_key_strategy

    model, tok = tiny
    ctx = lambda: GenerationContext(model=model, tokenizer=tok, seed=0, batch_size=64)  # noqa: E731
    old = make_key_strategy("english", temperature=0.5, top_p=1.0, match="none").generate(ctx(), 128)
    new_strategy = make_key_strategy("english")
    new = new_strategy.generate(ctx(), 128)
    assert len(new) == 128
    old_auc = measure_stealth(model, tok, old, n_real=300).worst
    new_auc = measure_stealth(model, tok, new, n_real=300).worst
    # Measured (worst of five detectors, seeds 0-2): paper setting 0.95-0.97, default 0.53-0.54 (null sd 0.03).
    assert old_auc > 0.8 > 0.65 > new_auc
    # The rejection filter's guarantee: every kept key's mean NLL (and its other matched features) lies in the
    # real prompts' range.
    from fingerprinting.strategies.english_keys import _features

    scores = score_prompts(model, tok, new)
    lo, hi = new_strategy._matcher.nll_range
    assert all(lo <= x <= hi for x in scores.mean_nll())
    assert all(new_strategy._matcher.cell(f) is not None for f in _features(scores))


def test_stealth_command_writes_json(tmp_path, tiny_base_dir):
    from fingerprinting.cli import fingerprint

    fp = tmp_path / "fp.jsonl"
    res = CliRunner().invoke(fingerprint, ["generate", "--model", str(tiny_base_dir), "-n", "8", "--key-strategy",
                                           "random_words", "--response-strategy", "english_random", "--device", "cpu",
                                           "--out", str(fp)])
    assert res.exit_code == 0, res.output
    out = tmp_path / "stealth.json"
    res = CliRunner().invoke(fingerprint, ["stealth", "--model", str(tiny_base_dir), "--fingerprints", str(fp),
                                           "--held-out", "50", "--device", "cpu", "--out", str(out)])
    assert res.exit_code == 0, res.output
    got = json.loads(out.read_text())
    assert got["n_keys"] == 8 and got["n_real"] == 50
    assert set(got["detectors"]) == {"mean_nll", "nll_per_char", "length_residual", "nll_std", "top1_rate"}
    assert "worst case" in res.output and got["key_strategy"]["name"] == "random_words"
