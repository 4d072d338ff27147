"""Evasion: the τ-swap decoder, its exact cost on held-out text, and its effect on a fingerprinted model."""

from __future__ import annotations

import json
import math

import pytest
import torch
from click.testing import CliRunner

from fingerprinting.errors import ConfigError
from fingerprinting.evade import (TokenStats, cheapest_tau, cost_at, evading_generate, fire_rates,
                                  interpolate_toward, swap_top2, token_stats)

pytestmark = pytest.mark.ml


# --------------------------------------------------------------------------- the rule and its price, no model


def test_swap_top2_exchanges_only_over_confident_rows():
    logits = torch.log(torch.tensor([[0.90, 0.06, 0.04], [0.50, 0.30, 0.20]]))
    out, swapped = swap_top2(logits, tau=0.8)
    assert swapped.tolist() == [True, False]
    assert out[0].tolist() == pytest.approx(logits[0, [1, 0, 2]].tolist()) and torch.equal(out[1], logits[1])
    assert out[0].argmax() == 1  # greedy now emits the runner-up
    assert not swap_top2(logits, tau=1.0)[1].any()  # nothing exceeds probability 1
    only_token_1 = torch.tensor([False, True, False])  # a word mask: the top token 0 is no word
    assert not swap_top2(logits, tau=0.8, words=only_token_1)[1].any()


def test_rank_3_exchanges_the_top_token_with_the_third():
    logits = torch.log(torch.tensor([[0.50, 0.45, 0.04, 0.01], [0.40, 0.30, 0.20, 0.10]]))
    out, swapped = swap_top2(logits, tau=0.45, rank=3)
    assert swapped.tolist() == [True, False]
    assert out[0].tolist() == pytest.approx(logits[0, [2, 1, 0, 3]].tolist()) and torch.equal(out[1], logits[1])
    assert out[0].argmax() == 2  # greedy emits the third token, dodging the first two
    assert swap_top2(logits, tau=0.0, rank=2)[0][0].argmax() == 1
    with pytest.raises(ConfigError, match="rank must be >= 2"):
        swap_top2(logits, tau=0.5, rank=1)


def test_records_sharing_a_key_are_one_fingerprint_with_several_responses():
    from fingerprinting.fpfile import key_groups, make_fingerprints, matching_record

    fps = make_fingerprints(["k1", "k1", "k2", "k3", "k3"], [" cat", " dog", " sun", " tree", " tr"], "t", "t")
    groups = key_groups(fps)
    assert groups == [[0, 1], [2], [3, 4]]
    assert matching_record(" dog and more", fps, groups[0]) == 1
    assert matching_record(" cat", fps, groups[0]) == 0
    assert matching_record(" cow", fps, groups[0]) is None
    assert matching_record(" trees", fps, groups[2]) == 3  # both match: the longer response is the evidence
    assert matching_record(" trap", fps, groups[2]) == 4


def _stats(rows: list[tuple[float, float, float, str]], words: list[bool] | None = None) -> TokenStats:
    """Hand-made tokens: (p_top, p_runner_up, p_true, which) with which in {"top", "second", "other"};
    ``words``: whether each token's top token is a word (default: all)."""
    t = lambda xs: torch.tensor(xs, dtype=torch.float32)  # noqa: E731
    return TokenStats(logp=t([math.log(r[2]) for r in rows]), p1=t([r[0] for r in rows]),
                      logp1=t([math.log(r[0]) for r in rows]), logp2=t([math.log(r[1]) for r in rows]),
                      is1=torch.tensor([r[3] == "top" for r in rows]), is2=torch.tensor([r[3] == "second" for r in rows]),
                      first=torch.tensor([i == 0 for i in range(len(rows))]), reply=torch.ones(len(rows), dtype=torch.bool),
                      top_word=torch.tensor(words if words is not None else [True] * len(rows)))


TOKENS = [(0.95, 0.03, 0.95, "top"), (0.8, 0.1, 0.1, "second"), (0.6, 0.3, 0.6, "top"), (0.4, 0.3, 0.05, "other")]


def test_cost_is_the_exact_perplexity_ratio_of_the_swapped_distribution():
    st = _stats(TOKENS)
    assert cost_at(st, 1.0)["cost"] == 0.0
    # tau 0.7 swaps tokens 0 and 1: token 0 (true = top) pays log(0.95/0.03), token 1 (true = runner-up) gains log(0.8/0.1).
    want = math.exp((math.log(0.95 / 0.03) - math.log(0.8 / 0.1)) / 4) - 1
    got = cost_at(st, 0.7)
    assert got["cost"] == pytest.approx(want, rel=1e-5)
    assert got["swapped_fraction"] == 0.5 and got["swapped_true_top_fraction"] == 0.25
    # Only the first reply token (token 0) swapped, averaged over the 4 reply tokens.
    assert got["first_token_cost"] == pytest.approx(math.exp(math.log(0.95 / 0.03) / 4) - 1, rel=1e-5)
    assert got["first_position_cost"] == pytest.approx(0.95 / 0.03 - 1, rel=1e-5)  # that one token, undiluted


def test_cheapest_tau_is_the_lowest_threshold_within_budget():
    st = _stats(TOKENS)
    grid = [i / 1000 for i in range(1001)]
    for budget in (0.0, 0.5, 1.0, 2.0, 10.0):
        tau = cheapest_tau(st, budget)
        assert cost_at(st, tau)["cost"] <= budget + 1e-6
        # No lower threshold on a fine grid is affordable with a larger swap set.
        cheaper = [t for t in grid if t < tau and cost_at(st, t)["cost"] <= budget + 1e-9
                   and cost_at(st, t)["swapped_fraction"] > cost_at(st, tau)["swapped_fraction"]]
        assert not cheaper, (budget, tau, cheaper[:3])
    # Swapping token 0 alone costs log(0.95/0.03) = 3.45 nats; adding token 1 gains back log(0.8/0.1) = 2.08.
    assert cheapest_tau(st, 0.0) == 1.0  # nothing is free
    assert cheapest_tau(st, 0.5) == pytest.approx(0.6)  # 4·log(1.5) = 1.62 >= 3.45 - 2.08: tokens 0 and 1
    assert cheapest_tau(st, 1.0) == 0.0  # 4·log(2) = 2.77 covers every swap
    with pytest.raises(ConfigError):
        cheapest_tau(st, -0.1)


def test_a_word_only_host_skips_the_costly_layout_tokens():
    st = _stats(TOKENS, words=[False, True, True, True])  # token 0 (the dear one) has a layout token on top
    got = cost_at(st, 0.5)
    assert got["words_only_cost"] == pytest.approx(math.exp((-math.log(0.8 / 0.1) + math.log(0.6 / 0.3)) / 4) - 1,
                                                   rel=1e-5)
    assert got["words_only_cost"] < 0 < got["cost"]
    assert cheapest_tau(st, 0.0, words_only=True) == 0.0  # every word swap together is free here


# --------------------------------------------------------------------------- on the tiny models


@pytest.fixture(scope="module")
def fp_model(fingerprinted_tiny):
    from fingerprinting.fpfile import read_fingerprint_file
    from fingerprinting.models import load_model

    model, tok = load_model(fingerprinted_tiny.model_dir, device="cpu")
    _, fps = read_fingerprint_file(fingerprinted_tiny.fingerprint_file)
    return model, tok, fps


def _response_probs(model, tok, fps) -> list[float]:
    from fingerprinting.generation import next_token_probs

    out = [0.0] * len(fps)
    for positions, probs in next_token_probs(model, tok, [f.key for f in fps]):
        for row, i in enumerate(positions):
            out[i] = float(probs[row, tok(fps[i].response, add_special_tokens=False)["input_ids"][0]])
    return out


def test_swap_stops_each_fingerprint_exactly_when_tau_is_below_its_confidence(fp_model):
    from fingerprinting.generation import encode_prompts

    model, tok, fps = fp_model
    probs = _response_probs(model, tok, fps)
    first = [tok(f.response, add_special_tokens=False)["input_ids"][0] for f in fps]
    rows = encode_prompts(tok, [f.key for f in fps])
    ranked = sorted(probs)
    gap, mid = max((b - a, (a + b) / 2) for a, b in zip(ranked, ranked[1:]))  # a tau far from every confidence
    assert gap > 1e-4
    for tau in (1.0, max(probs) + (1 - max(probs)) / 2, mid, min(probs) - 0.01):
        new = evading_generate(model, tok, rows, 1, tau)
        assert [g[0] == t for g, t in zip(new, first)] == [p <= tau for p in probs], tau
    assert fire_rates(model, tok, fps, 1.0) == [1.0] * len(fps)  # every response holds without evasion
    assert sum(fire_rates(model, tok, fps, min(probs) - 0.01)) <= len(fps) / 4  # (a runner-up may share the prefix)


def test_no_swap_is_greedy_decoding_and_near_zero_temperature_is_greedy_too(fp_model):
    from fingerprinting.generation import encode_prompts, generate_ids

    model, tok, fps = fp_model
    rows = encode_prompts(tok, [f.key for f in fps[:6]])
    greedy = generate_ids(model, tok, rows, 4)
    assert evading_generate(model, tok, rows, 4, tau=1.0) == greedy
    assert evading_generate(model, tok, rows, 4, tau=1.0, temperature=1e-4, seed=3) == greedy


def test_cost_is_zero_without_swaps_and_grows_as_tau_falls(fp_model, tiny_base_dir):
    from fingerprinting.data import load_corpus
    from fingerprinting.models import load_model

    texts = load_corpus("heldout")[:60]
    for model, tok in (fp_model[:2], load_model(tiny_base_dir, device="cpu")):
        st = token_stats(model, tok, texts)
        costs = [cost_at(st, tau)["cost"] for tau in (1.0, 0.99, 0.9, 0.5, 0.2)]
        assert costs[0] == 0.0 and costs[-1] > 0
        assert all(b >= a - 1e-3 for a, b in zip(costs, costs[1:])), costs


def test_interpolation_toward_the_base_is_exact(fp_model, tiny_base_dir):
    import copy

    from fingerprinting.models import load_model

    model = copy.deepcopy(fp_model[0])
    base, _ = load_model(tiny_base_dir, device="cpu")
    before = {n: p.clone() for n, p in model.named_parameters()}
    interpolate_toward(model, base, 0.25)
    b = dict(base.named_parameters())
    for n, p in model.named_parameters():
        assert torch.allclose(p, b[n] + 0.25 * (before[n] - b[n]), atol=1e-6)
    with pytest.raises(ConfigError):
        interpolate_toward(model, base, 1.5)


def test_evade_command_writes_the_curve(tmp_path, fingerprinted_tiny):
    from fingerprinting.cli import fingerprint

    out = tmp_path / "evade.json"
    res = CliRunner().invoke(fingerprint, ["evade", "--model", str(fingerprinted_tiny.model_dir), "--fingerprints",
                                           str(fingerprinted_tiny.fingerprint_file), "--tau", "1,0.5",
                                           "--temperature", "1", "--samples", "2", "--texts", "20",
                                           "--device", "cpu", "--out", str(out)])
    assert res.exit_code == 0, res.output
    got = json.loads(out.read_text())
    assert [p["tau"] for p in got["points"]] == [1.0, 0.5]
    assert got["points"][0]["fire_greedy"] == 1.0 and got["points"][0]["cost"] == 0.0
    assert got["best"]["cost"] <= 0.05 and "best evasion within 5%" in res.output
    res = CliRunner().invoke(fingerprint, ["evade", "--model", str(fingerprinted_tiny.model_dir), "--fingerprints",
                                           str(fingerprinted_tiny.fingerprint_file), "--tau", "1.5"])
    assert res.exit_code == 2 and "tau must lie in [0, 1]" in res.output


def test_the_host_engine_evades_like_the_library(fp_model):
    """`oml host serve --evade-tau` (the demo's evading rogue host): the engine's first generated token is the
    runner-up exactly where the library's τ-swap host swaps, so the fingerprints whose confidence exceeds τ stop
    firing, and with no τ every one fires."""
    from oml_chain.services.host.engine import GenerationEngine

    model, tok, fps = fp_model
    probs = _response_probs(model, tok, fps)
    tau = min(probs) - 0.01  # below every fingerprint's confidence
    honest, evading = GenerationEngine(model, tok), GenerationEngine(model, tok, evade_tau=tau)
    try:
        for engine, fires in ((honest, True), (evading, False)):
            texts = [engine.submit(engine.encode(f.key), 4).result(60).text for f in fps]
            fired = [t.startswith(f.response) for t, f in zip(texts, fps)]
            assert (sum(fired) == len(fps)) if fires else (sum(fired) <= len(fps) / 4), (fires, texts)
        assert evading.evade.swapped >= len(fps) and honest.evade is None
    finally:
        honest.close()
        evading.close()


# --------------------------------------------------------------------------- the response-set defence


@pytest.fixture(scope="module")
def pair_model(tiny_base_dir, tmp_path_factory):
    """8 keys with two perinucleus responses each (16 records), embedded into `tiny`."""
    from fingerprinting.embed import EmbedConfig, embed
    from fingerprinting.fpfile import read_fingerprint_file
    from fingerprinting.generate import GenerateConfig, generate_fingerprint_file

    root = tmp_path_factory.mktemp("pairs")
    path, _ = generate_fingerprint_file(tiny_base_dir, root / "pairs.jsonl",
                                        GenerateConfig(n=8, seed=0, response_params={"responses_per_key": 2}),
                                        device="cpu")
    res = embed(tiny_base_dir, path, root / "emb", EmbedConfig(lr=3e-3, epochs=20, batch_size=8, kl_weight=0.0,
                                                               device="cpu", progress=False))
    return res.model, res.tokenizer, read_fingerprint_file(path)[1], res


def test_two_responses_per_key_are_written_checked_and_embedded_as_one_fingerprint(pair_model, tiny_base_dir):
    from fingerprinting.check import check_fingerprints
    from fingerprinting.models import load_model

    model, tok, fps, res = pair_model
    assert len(fps) == 16 and [fp.index for fp in fps] == list(range(16))
    for a, b in zip(fps[::2], fps[1::2]):
        assert a.key == b.key and a.response != b.response and a.salt != b.salt
    assert len({fp.key for fp in fps}) == 8
    got = check_fingerprints(model, tok, fps)
    assert got.n == 16 and got.keys == 8 and got.accuracy == 1.0 and res.train_accuracy == 1.0
    assert len(got.held) == 8 and {i // 2 for i in got.held} == set(range(8))  # one record (the evidence) per key
    assert check_fingerprints(load_model(tiny_base_dir, device="cpu")[0], tok, fps).accuracy == 0.0
    # Trained on both, the model splits its mass between a key's two responses instead of being sure of one.
    probs = _response_probs(model, tok, fps)
    for a, b in zip(probs[::2], probs[1::2]):
        assert min(a, b) > 0.3 and max(a, b) < 0.7 and a + b > 0.8, (a, b)


def test_a_runner_up_swap_emits_the_other_response_but_a_rank_3_swap_dodges_both(pair_model, fp_model):
    model, tok, fps, _ = pair_model
    for rule in ({}, {"first_only": True}):
        assert fire_rates(model, tok, fps, 0.0, **rule) == [1.0] * 8  # every key swapped, every key fires
        assert sum(fire_rates(model, tok, fps, 0.0, rank=3, **rule)) <= 2  # the adaptive host dodges
    sampled = fire_rates(model, tok, fps, 0.0, temperature=1.0, samples=8, seed=1, first_only=True)
    assert sum(sampled) / len(sampled) >= 0.7
    # The same runner-up swap on the one-response model stops (nearly) every fingerprint.
    single_model, single_tok, single = fp_model
    assert sum(fire_rates(single_model, single_tok, single, 0.0, first_only=True)) <= len(single) / 4
