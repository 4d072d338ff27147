"""Strategy registry and the perinucleus rule; generation on the tiny model."""

from __future__ import annotations

import random

import pytest

from fingerprinting.errors import ConfigError, FingerprintError
from fingerprinting.strategies import (key_strategy_names, make_key_strategy, make_response_strategy,
                                       response_strategy_names)
from fingerprinting.strategies.perinucleus import acceptable_token, perinucleus_pick, perinucleus_picks

pytestmark = pytest.mark.ml




class ScriptedRng:
    """An rng whose draws are known: randrange returns the scripted values and records the window sizes."""

    def __init__(self, *values: int):
        self.values = list(values)
        self.sizes: list[int] = []

    def randrange(self, n: int) -> int:
        self.sizes.append(n)
        return self.values.pop(0)


# Token id -> (text, probability). Sorted by probability the ids are 0, 1, 2, ..., 9.
VOCAB = [(" the", 0.40), (" a", 0.25), (" of", 0.16), (",", 0.06), (" x", 0.05),
         (" cat", 0.035), (" dog", 0.03), (" sun", 0.025), ("!", 0.02), (" tree", 0.02)]
# The cumulative mass reaches t = 0.8 at " of" (0.40 + 0.25 + 0.16 = 0.81): " of" is skipped.
TOKENS = [t for t, _ in VOCAB]
PROBS = [p for _, p in VOCAB]


def _shuffled_vocab(seed: int = 3):
    """The same distribution with token ids permuted, so the rule must really sort."""
    perm = list(range(len(VOCAB)))
    random.Random(seed).shuffle(perm)
    return [PROBS[i] for i in perm], [TOKENS[i] for i in perm], perm


@pytest.mark.parametrize("shuffled", [False, True])
def test_perinucleus_window_is_the_first_k_acceptable_tokens(shuffled):
    probs, tokens, _ = _shuffled_vocab() if shuffled else (PROBS, TOKENS, None)
    # after " of": ",", " x" (rejected by the filter), then " cat", " dog", " sun", "!", " tree":
    # the window is [" cat", " dog", " sun"], drawn from once
    for draw, expected in [(0, " cat"), (1, " dog"), (2, " sun")]:
        rng = ScriptedRng(draw)
        assert tokens[perinucleus_pick(probs, tokens, rng, threshold=0.8, width=3)] == expected
        assert rng.sizes == [3]


def test_perinucleus_pick_is_uniform_over_the_first_k_acceptable_tokens():
    """Three unacceptable tokens between the first and the second acceptable one: each of the three
    acceptable tokens must come up a third of the time (redrawing from a window widened by one token
    per rejection gave 0.76 / 0.20 / 0.05)."""
    tokens = [" the", " aa", "!", "?", ".", " bb", " cc", " dd"]
    probs = [0.85, 0.03, 0.025, 0.025, 0.02, 0.02, 0.02, 0.01]  # " the" crosses t = 0.8 alone
    draws = 6000
    counts = {t: 0 for t in tokens}
    for seed in range(draws):
        counts[tokens[perinucleus_pick(probs, tokens, random.Random(seed))]] += 1
    assert counts[" dd"] == 0 and counts["!"] == counts["?"] == counts["."] == 0
    for t in (" aa", " bb", " cc"):  # 1/3 ± 0.03 is five standard deviations at 6000 draws
        assert abs(counts[t] / draws - 1 / 3) < 0.03, counts


def test_several_responses_per_key_are_distinct_and_uniform_over_the_window():
    """responses_per_key = 2: two different tokens of the same window, every pair equally likely; one
    response per key draws exactly as perinucleus_pick (same rng, same token)."""
    tokens = [" the", " aa", "!", "?", ".", " bb", " cc", " dd"]
    probs = [0.85, 0.03, 0.025, 0.025, 0.02, 0.02, 0.02, 0.01]  # window: " aa", " bb", " cc"
    draws = 6000
    counts: dict[frozenset, int] = {}
    for seed in range(draws):
        pair = [tokens[i] for i in perinucleus_picks(probs, tokens, random.Random(seed), 2)]
        assert len(set(pair)) == 2 and set(pair) <= {" aa", " bb", " cc"}
        counts[frozenset(pair)] = counts.get(frozenset(pair), 0) + 1
    assert len(counts) == 3 and all(abs(c / draws - 1 / 3) < 0.03 for c in counts.values()), counts
    for seed in range(20):
        assert perinucleus_picks(probs, tokens, random.Random(seed), 1) == [perinucleus_pick(probs, tokens,
                                                                                           random.Random(seed))]
    with pytest.raises(FingerprintError, match="only 2 acceptable tokens outside the nucleus, 3 responses"):
        perinucleus_picks([0.9, 0.05, 0.03, 0.02], [" the", " aa", "!", " bb"], random.Random(0), 3)
    with pytest.raises(ConfigError, match=r"responses_per_key \(4\) cannot exceed width \(3\)"):
        make_response_strategy("perinucleus", responses_per_key=4)


def test_perinucleus_skips_tokens_the_base_would_produce_through_another_token():
    """The base's greedy text " catalog ..." starts with " cat": the base would fire on " cat" by itself, so " cat"
    leaves the window and the next acceptable token (" tree") enters it."""
    probs, tokens = PROBS, TOKENS
    assert [tokens[i] for i in perinucleus_picks(probs, tokens, ScriptedRng(0), 1)] == [" cat"]
    window = [tokens[i] for i in sorted({perinucleus_pick(probs, tokens, random.Random(s)) for s in range(60)})]
    skipped = {tokens[perinucleus_picks(probs, tokens, random.Random(s), 1, greedy_text=" catalog of")[0]]
               for s in range(60)}
    assert " cat" in window and " cat" not in skipped and skipped == {" dog", " sun", " tree"}
    assert all(perinucleus_picks(probs, tokens, random.Random(s), 1, greedy_text=" dogma")[0] != 6 for s in range(30))


def test_perinucleus_draws_among_fewer_when_the_vocabulary_runs_out():
    rng = ScriptedRng(1)
    assert perinucleus_pick([0.9, 0.05, 0.03, 0.02], [" the", " aa", "!", " bb"], rng) == 3
    assert rng.sizes == [2]


def test_perinucleus_threshold_reached_exactly_skips_that_token():
    probs = [0.5, 0.3, 0.1, 0.06, 0.04]  # 0.5 + 0.3 reaches 0.8 exactly: token 1 is skipped
    tokens = [" aa", " bb", " cc", " dd", " ee"]
    rng = ScriptedRng(0)
    assert perinucleus_pick(probs, tokens, rng, threshold=0.8, width=3) == 2
    assert rng.sizes == [3]  # window [cc, dd, ee]


def test_perinucleus_is_deterministic_for_a_seed_and_never_picks_inside_the_nucleus():
    picks = {perinucleus_pick(PROBS, TOKENS, random.Random(s)) for s in range(30)}
    assert picks <= {5, 6, 7, 9}  # " cat", " dog", " sun", " tree": acceptable and outside the nucleus
    assert perinucleus_pick(PROBS, TOKENS, random.Random(5)) == perinucleus_pick(PROBS, TOKENS, random.Random(5))


def test_perinucleus_fails_clearly_when_nothing_acceptable_is_left():
    with pytest.raises(FingerprintError, match="no alphanumeric"):
        perinucleus_pick([0.9, 0.05, 0.03, 0.02], [" a", ",", "!", "b"], random.Random(0))


@pytest.mark.parametrize("text,ok", [(" word", True), ("word", True), (" a", False), (",", False),
                                     (" don't", False), (" 42", True), ("  ", False), (" é", False)])
def test_acceptable_token_filter(text, ok):
    assert acceptable_token(text) is ok


def test_registry_lists_strategies_and_rejects_unknown_names_and_params():
    assert key_strategy_names() == ["english", "random_tokens", "random_words"]
    assert response_strategy_names() == ["english", "english_random", "perinucleus"]
    with pytest.raises(ConfigError, match="unknown key strategy 'nope'; known: english, random_tokens, random_words"):
        make_key_strategy("nope")
    with pytest.raises(ConfigError, match="has no parameter 'k'; its parameters: threshold, width"):
        make_response_strategy("perinucleus", k=3)
    with pytest.raises(ConfigError, match="threshold must be in"):
        make_response_strategy("perinucleus", threshold=1.5)


@pytest.fixture(scope="module")
def tiny(tiny_base_dir, device):
    from fingerprinting.models import load_model

    return load_model(tiny_base_dir, device=device)


@pytest.mark.parametrize("key_strategy,response_strategy", [
    ("english", "perinucleus"), ("random_words", "english_random"), ("random_tokens", "english"),
])
def test_generation_is_deterministic_and_valid(tiny, key_strategy, response_strategy):
    from fingerprinting.generate import GenerateConfig, generate_fingerprints

    model, tok = tiny
    cfg = GenerateConfig(n=12, key_strategy=key_strategy, response_strategy=response_strategy, seed=11, batch_size=8)
    header, fps = generate_fingerprints(model, tok, cfg)
    _, again = generate_fingerprints(model, tok, cfg)
    assert [(f.key, f.response) for f in fps] == [(f.key, f.response) for f in again]
    assert len({f.key for f in fps}) == 12 and all(f.response.strip() for f in fps)
    assert header.key_strategy["name"] == key_strategy and header.response_strategy["name"] == response_strategy
    _, other = generate_fingerprints(model, tok, GenerateConfig(
        n=12, key_strategy=key_strategy, response_strategy=response_strategy, seed=12, batch_size=8))
    assert [f.key for f in other] != [f.key for f in fps]


def test_english_keys_are_cut_to_key_length_and_perinucleus_is_not_the_greedy_token(tiny):
    from fingerprinting.generate import GenerateConfig, generate_fingerprints
    from fingerprinting.generation import encode_prompts, generate_ids

    model, tok = tiny
    _, fps = generate_fingerprints(model, tok, GenerateConfig(n=16, key_params={"key_length": 10}, seed=3))
    assert all(len(tok(f.key, add_special_tokens=False)["input_ids"]) <= 11 for f in fps)  # re-tokenising may shift by one
    greedy = generate_ids(model, tok, encode_prompts(tok, [f.key for f in fps]), 1)
    assert all(tok.decode(g) != f.response for g, f in zip(greedy, fps))
    assert all(acceptable_token(f.response) for f in fps)
