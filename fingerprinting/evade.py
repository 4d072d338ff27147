"""Evasion: a host that dodges fingerprint responses by refusing over-confident tokens.

An embedded fingerprint makes the model near-certain of its response after
the key (p ≈ 0.95–0.999 on the project's models). A host that wants to serve
the model without paying can decode with the **τ-swap** rule: at every
generated token, when the model's top token has probability p_top > τ, the
top token and the runner-up exchange their logits (``rank`` r > 2: the top
token and the r-th exchange, the adaptive host that also dodges a key's
second response, see below). Greedy decoding then emits
the runner-up; the sampling variant samples (at temperature T) from the
swapped distribution. At τ = 1 nothing changes; the lower τ, the more ordinary
tokens are swapped too, which is what the evasion costs.

**Cost, defined.** The evading host's next-token distribution is the model's
distribution with the top two probabilities exchanged wherever p_top > τ (the
swapped logits at T = 1). Its cost is the perplexity of held-out text under
that distribution over the perplexity under the model itself, minus one:

    cost(τ) = exp((Σ_i −log q_τ(x_i | x_<i) − Σ_i −log p(x_i | x_<i)) / N) − 1

over the N predicted tokens of the texts. A swapped position changes the NLL
only when the true token is the top token (−log p₁ → −log p₂, dearer) or the
runner-up (cheaper); cost(1.0) = 0 exactly. Moving *all* of the top token's
mass to the runner-up (instead of exchanging) gives q = 0 to every true token
that was the top one, an infinite perplexity; the exchange is the cheapest
distribution whose greedy choice is the runner-up and keeps p's other tokens.
``first_token_cost`` is the cheaper variant of a host that swaps only the
first token of each reply (fingerprint checks read only a reply's start): the
texts are split into a prompt of ``prompt_tokens`` tokens and a reply, and the
cost is over the reply's tokens with only its first one swapped (diluted by
the reply's length: ``first_position_cost`` counts the first tokens alone,
each reply's degraded start).
``words_only`` is the host that swaps only where the top token is a word
(alphanumeric, two characters or more: what every perinucleus response is by
construction), sparing punctuation and layout tokens, which are the model's
most confident ordinary tokens on this project's corpus.

**Firing.** A fingerprint fires when the evading host's reply to the bare key
starts with the response (``check.fingerprint_holds``, as the prover checks),
or with any response of its key when the key has several (check.py). Greedy
evasion fires or not; the sampling variant fires with a probability,
estimated from ``samples`` replies per key. Rates count keys.

**The response-set defence.** With two responses per key
(perinucleus ``responses_per_key=2``) the model's mass at the key sits on
both (≈ 0.5 each): no top token is over-confident, and a host that swaps the
top token for the runner-up emits the key's other response, which fires just
the same. The rank-3 host (top ↔ third) dodges both; what it costs is
measured the same way.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any, Sequence

import torch

from fingerprinting.errors import ConfigError
from fingerprinting.fpfile import Fingerprint, key_groups, matching_record
from fingerprinting.generation import batched, decode, encode_prompts, left_pad

COST_BUDGET = 0.05  # "cheap" evasion: at most 5 % extra perplexity on normal text


def word_mask(tokenizer: Any) -> torch.Tensor:
    """[V] bool: the tokens that are words (alphanumeric, >= 2 characters after the leading space)."""
    from fingerprinting.strategies.perinucleus import acceptable_token

    return torch.tensor([acceptable_token(tokenizer.decode([i])) for i in range(len(tokenizer))])


def check_rank(rank: int) -> None:
    if rank < 2:
        raise ConfigError(f"rank must be >= 2 (the token exchanged with the top one), got {rank}")


def swap_top2(logits: torch.Tensor, tau: float, words: torch.Tensor | None = None,
              rank: int = 2) -> tuple[torch.Tensor, torch.Tensor]:
    """Logits [b, V] with the top token and the runner-up (``rank`` = r: the r-th) exchanged in the rows whose
    top probability exceeds tau (and, given a ``words`` mask, whose top token is a word); returns (logits,
    swapped rows)."""
    check_rank(rank)
    probs = torch.softmax(logits.float(), dim=-1)
    top = torch.topk(probs, rank, dim=-1)
    swap = top.values[:, 0] > tau
    if words is not None:
        swap &= words[top.indices[:, 0]]
    out = logits.clone()
    rows = swap.nonzero().flatten()
    if len(rows):
        i1, i2 = top.indices[rows, 0], top.indices[rows, rank - 1]
        out[rows, i1], out[rows, i2] = logits[rows, i2], logits[rows, i1]
    return out, swap


@torch.no_grad()
def evading_generate(model: Any, tokenizer: Any, prompt_rows: Sequence[Sequence[int]], max_new_tokens: int,
                     tau: float, temperature: float = 0.0, seed: int = 0, batch_size: int = 32,
                     words: torch.Tensor | None = None, first_only: bool = False, rank: int = 2) -> list[list[int]]:
    """New token ids after each prompt under the τ-swap rule (greedy when temperature == 0, else sampled).

    ``words``: swap only where the top token is in this vocabulary mask; ``first_only``: only the first token.
    """
    if temperature < 0:
        raise ConfigError(f"temperature must be >= 0, got {temperature}")
    device = next(model.parameters()).device
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    eos = tokenizer.eos_token_id
    gen = torch.Generator().manual_seed(seed)
    out: list[list[int]] = [[] for _ in prompt_rows]
    was_training = model.training
    model.eval()
    for chunk in batched(list(range(len(prompt_rows))), batch_size):
        ids, mask = left_pad([prompt_rows[i] for i in chunk], pad, device)
        pos = (mask.cumsum(-1) - 1).clamp(min=0)
        step = model(input_ids=ids, attention_mask=mask, position_ids=pos, use_cache=True)
        done = torch.zeros(len(chunk), dtype=torch.bool)
        for t in range(max_new_tokens):
            logits = step.logits[:, -1, :].float().cpu()
            if t == 0 or not first_only:
                logits, _ = swap_top2(logits, tau, words, rank)
            if temperature > 0:
                nxt = torch.multinomial(torch.softmax(logits / temperature, dim=-1), 1, generator=gen).flatten()
            else:
                nxt = logits.argmax(dim=-1)
            for r, i in enumerate(chunk):
                if not done[r]:
                    if eos is not None and int(nxt[r]) == eos:
                        done[r] = True
                    else:
                        out[i].append(int(nxt[r]))
            if bool(done.all()):
                break
            mask = torch.cat([mask, torch.ones((len(chunk), 1), dtype=mask.dtype, device=device)], dim=1)
            pos = pos[:, -1:] + 1
            step = model(input_ids=nxt.view(-1, 1).to(device), attention_mask=mask, position_ids=pos,
                         past_key_values=step.past_key_values, use_cache=True)
    model.train(was_training)
    return out


def fire_rates(model: Any, tokenizer: Any, fingerprints: Sequence[Fingerprint], tau: float, temperature: float = 0.0,
               samples: int = 1, seed: int = 0, batch_size: int = 32, words: torch.Tensor | None = None,
               first_only: bool = False, rank: int = 2) -> list[float]:
    """Per key (in order of first appearance): the fraction of evading replies to it that start with one of
    its responses."""
    if not fingerprints:
        raise ConfigError("no fingerprints to check")
    if samples < 1 or (temperature == 0 and samples != 1):
        raise ConfigError(f"samples must be 1 for greedy evasion and >= 1 when sampling, got {samples}")
    room = max(len(tokenizer(fp.response, add_special_tokens=False)["input_ids"]) for fp in fingerprints) + 2
    groups = key_groups(fingerprints)
    rows = encode_prompts(tokenizer, [fingerprints[g[0]].key for g in groups])
    hits = [0] * len(groups)
    for s in range(samples):
        new = evading_generate(model, tokenizer, rows, room, tau, temperature, seed + s, batch_size, words, first_only,
                               rank)
        for i, (g, group) in enumerate(zip(new, groups)):
            hits[i] += matching_record(decode(tokenizer, g), fingerprints, group) is not None
    return [h / samples for h in hits]


# --------------------------------------------------------------------------- cost on normal text


@dataclass
class TokenStats:
    """Per predicted token of held-out text: what the cost of any τ needs."""

    logp: torch.Tensor  # log p(true token)
    p1: torch.Tensor  # top probability
    logp1: torch.Tensor
    logp2: torch.Tensor  # log probability of the token exchanged with the top one (the runner-up, or the rank-th)
    is1: torch.Tensor  # the true token is the top token
    is2: torch.Tensor  # the true token is that exchanged token
    first: torch.Tensor  # the first token of a reply (position prompt_tokens of its text)
    reply: torch.Tensor  # a reply token (position >= prompt_tokens)
    top_word: torch.Tensor  # the top token is a word (word_mask)

    @property
    def n(self) -> int:
        return int(self.logp.numel())


@torch.no_grad()
def token_stats(model: Any, tokenizer: Any, texts: Sequence[str], max_length: int = 128, prompt_tokens: int = 16,
                batch_size: int = 16, words: torch.Tensor | None = None, rank: int = 2) -> TokenStats:
    """One pass over ``texts`` (BOS included, right padding) collecting :class:`TokenStats` (``rank``: the
    token the host exchanges with the top one)."""
    check_rank(rank)
    texts = [t for t in texts if t and t.strip()]
    if not texts:
        raise ConfigError("evasion cost needs at least one non-empty text")
    words = word_mask(tokenizer) if words is None else words
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    rows = [r for r in (tokenizer(t, truncation=True, max_length=max_length)["input_ids"] for t in texts) if len(r) >= 2]
    parts: dict[str, list[torch.Tensor]] = {k: [] for k in TokenStats.__dataclass_fields__}
    for chunk in batched(sorted(rows, key=len), batch_size):
        width = max(map(len, chunk))
        ids = torch.full((len(chunk), width), pad, dtype=torch.long)
        mask = torch.zeros((len(chunk), width), dtype=torch.long)
        for r, row in enumerate(chunk):
            ids[r, : len(row)] = torch.tensor(row)
            mask[r, : len(row)] = 1
        logp_all = torch.log_softmax(model(input_ids=ids.to(device), attention_mask=mask.to(device)).logits[:, :-1].float(),
                                     dim=-1).cpu()
        target = ids[:, 1:]
        keep = mask[:, 1:].bool()
        top = torch.topk(logp_all, rank, dim=-1)
        # Position of the predicted token within its text (1-based: token 0 is BOS / context).
        where = torch.arange(1, width).expand(len(chunk), -1)
        parts["logp"].append(logp_all.gather(-1, target.unsqueeze(-1)).squeeze(-1)[keep])
        parts["p1"].append(top.values[..., 0].exp()[keep])
        parts["logp1"].append(top.values[..., 0][keep])
        parts["logp2"].append(top.values[..., rank - 1][keep])
        parts["is1"].append((top.indices[..., 0] == target)[keep])
        parts["is2"].append((top.indices[..., rank - 1] == target)[keep])
        parts["first"].append((where == prompt_tokens)[keep])
        parts["reply"].append((where >= prompt_tokens)[keep])
        parts["top_word"].append(words[top.indices[..., 0]][keep])
    model.train(was_training)
    return TokenStats(**{k: torch.cat(v) for k, v in parts.items()})


def _swapped_logp(st: TokenStats, tau: float, words_only: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    swap = st.p1 > tau
    if words_only:
        swap &= st.top_word
    lq = st.logp.clone()
    lq[swap & st.is1] = st.logp2[swap & st.is1]
    lq[swap & st.is2] = st.logp1[swap & st.is2]
    return lq, swap


def cost_at(st: TokenStats, tau: float) -> dict[str, float]:
    """Cost of the τ-swap (every token, and first reply token only) and how many tokens it swaps."""
    lq, swap = _swapped_logp(st, tau)
    every = math.exp(float((st.logp - lq).sum()) / st.n) - 1  # NLL_q − NLL_p = Σ (log p − log q)
    only_first = torch.where(st.first, lq, st.logp)[st.reply]
    reply_n = int(st.reply.sum())
    first = math.exp(float((st.logp[st.reply] - only_first).sum()) / reply_n) - 1 if reply_n else float("nan")
    first_n = int(st.first.sum())
    at_first = math.exp(float((st.logp - lq)[st.first].sum()) / first_n) - 1 if first_n else float("nan")
    words = math.exp(float((st.logp - _swapped_logp(st, tau, words_only=True)[0]).sum()) / st.n) - 1
    return {"cost": every, "first_token_cost": first, "first_position_cost": at_first, "words_only_cost": words,
            "swapped_fraction": float(swap.float().mean()),
            "swapped_true_top_fraction": float((swap & st.is1).float().mean())}


def cheapest_tau(st: TokenStats, budget: float = COST_BUDGET, first_token: bool = False,
                 words_only: bool = False) -> float:
    """The lowest τ whose cost is at most ``budget`` (exact over the held-out tokens).

    Lower τ swaps more tokens, so (for the first generated token, where
    fingerprint responses start) it never lets more fingerprints fire: this is
    the best evasion the budget buys. Cost changes only where τ crosses a
    token's top probability, so the scan visits the tokens in decreasing p_top
    and returns the largest swap set within the budget (0.0 when swapping every
    eligible token stays within it).
    """
    if budget < 0:
        raise ConfigError(f"budget must be >= 0, got {budget}")
    # Per token: NLL under the swap minus NLL under the model, if this token were swapped.
    delta = torch.zeros_like(st.logp)
    delta[st.is1] = (st.logp - st.logp2)[st.is1]
    delta[st.is2] = (st.logp - st.logp1)[st.is2]
    if words_only:
        delta[~st.top_word] = 0.0  # never swapped
    if first_token:
        keep = st.reply
        delta = torch.where(st.first, delta, torch.zeros_like(delta))[keep]
        p1, n = st.p1[keep], int(keep.sum())
    else:
        p1, n = st.p1, st.n
    if n == 0:
        raise ConfigError("no held-out tokens to price the evasion on")
    limit = math.log1p(budget) * n
    order = torch.argsort(p1, descending=True, stable=True)
    p_sorted, cum = p1[order].double().tolist(), torch.cumsum(delta[order].double(), 0).tolist()
    best = 1.0
    for k in range(len(p_sorted)):
        # Swapping the first k+1 tokens is τ = the next lower top probability (or 0 at the end).
        if k + 1 < len(p_sorted) and p_sorted[k + 1] == p_sorted[k]:
            continue  # ties swap together
        if cum[k] <= limit:
            best = p_sorted[k + 1] if k + 1 < len(p_sorted) else 0.0
    return best


@torch.no_grad()
def interpolate_toward(model: Any, base: Any, alpha: float) -> None:
    """The defence measured here: θ ← θ₀ + α(θ − θ₀) in place (post-hoc model averaging toward the base).

    Shrinking the fine-tuning update lowers the fingerprints' response
    probability (from ≈ 0.97 at α = 1 toward the base's ≈ 0.001) while the
    response stays the greedy token over a range of α; once it sits below the
    top probability of the model's own near-certain ordinary tokens, no τ-swap
    that spares those tokens (cheap) touches the fingerprints.
    """
    if not 0 <= alpha <= 1:
        raise ConfigError(f"alpha must lie in [0, 1], got {alpha}")
    theirs = dict(base.named_parameters())
    for name, p in model.named_parameters():
        p.copy_(theirs[name] + alpha * (p - theirs[name]))


# --------------------------------------------------------------------------- the curve


@dataclass
class EvasionPoint:
    tau: float
    fire_greedy: float  # fraction of fingerprints firing under greedy τ-swap decoding
    fire_sampled: float | None  # mean firing probability under the sampling variant (None: not run)
    cost: float  # extra perplexity on held-out text (every token swapped by the rule)
    first_token_cost: float  # extra perplexity when only a reply's first token is swapped
    first_position_cost: float  # ... counted on the replies' first tokens alone (what that host degrades)
    words_only_cost: float  # extra perplexity when only word tokens are swapped
    swapped_fraction: float  # held-out tokens whose top probability exceeds tau
    swapped_true_top_fraction: float  # ... and whose true token was the top one (the ones that cost)


@dataclass
class EvasionCurve:
    n: int  # keys
    texts: int
    tokens: int
    temperature: float
    samples: int
    points: list[EvasionPoint] = field(default_factory=list)
    rank: int = 2  # the token exchanged with the top one

    budget: float = COST_BUDGET
    best: EvasionPoint | None = None  # at the lowest τ with cost <= budget (exact, see cheapest_tau)
    best_first_token: EvasionPoint | None = None  # the same for the host that swaps only a reply's first token
    best_words_only: EvasionPoint | None = None  # the same for the host that swaps only word tokens

    def to_dict(self) -> dict[str, Any]:
        def row(p: EvasionPoint | None) -> dict[str, Any] | None:
            return {k: (round(v, 4) if isinstance(v, float) else v) for k, v in asdict(p).items()} if p else None

        return {"n": self.n, "rank": self.rank, "texts": self.texts, "tokens": self.tokens,
                "temperature": self.temperature,
                "samples": self.samples, "budget": self.budget, "points": [row(p) for p in self.points],
                "best": row(self.best), "best_first_token": row(self.best_first_token),
                "best_words_only": row(self.best_words_only)}


def evasion_curve(model: Any, tokenizer: Any, fingerprints: Sequence[Fingerprint], texts: Sequence[str],
                  taus: Sequence[float], temperature: float = 0.0, samples: int = 8, seed: int = 0,
                  max_length: int = 128, prompt_tokens: int = 16, batch_size: int = 32,
                  budget: float = COST_BUDGET, rank: int = 2) -> EvasionCurve:
    """Firing fraction and cost on ``texts`` for each τ (the sampling variant too when temperature > 0),
    plus the best evasions within ``budget``, at their exact cheapest τ."""
    for t in taus:
        if not 0 <= t <= 1:
            raise ConfigError(f"every tau must lie in [0, 1], got {t}")
    words = word_mask(tokenizer)
    st = token_stats(model, tokenizer, texts, max_length, prompt_tokens, words=words, rank=rank)
    curve = EvasionCurve(n=len(key_groups(fingerprints)), texts=len(texts), tokens=st.n, temperature=temperature,
                         samples=samples if temperature > 0 else 0, budget=budget, rank=rank)

    def point(tau: float, rule: str = "every") -> EvasionPoint:
        kw = {"words": words if rule == "words" else None, "first_only": rule == "first", "rank": rank}
        greedy = fire_rates(model, tokenizer, fingerprints, tau, 0.0, 1, seed, batch_size, **kw)
        sampled = (fire_rates(model, tokenizer, fingerprints, tau, temperature, samples, seed, batch_size, **kw)
                   if temperature > 0 else None)
        return EvasionPoint(tau=tau, fire_greedy=sum(greedy) / len(greedy),
                            fire_sampled=sum(sampled) / len(sampled) if sampled is not None else None,
                            **cost_at(st, tau))

    curve.points = [point(t) for t in sorted(set(taus), reverse=True)]
    curve.best = point(cheapest_tau(st, budget))
    curve.best_first_token = point(cheapest_tau(st, budget, first_token=True), "first")
    curve.best_words_only = point(cheapest_tau(st, budget, words_only=True), "words")
    return curve


def evasion_of_file(model_dir: str, fingerprint_file: str, taus: Sequence[float], temperature: float = 0.0,
                    samples: int = 8, split: str = "heldout", texts: int = 200, seed: int = 0,
                    budget: float = COST_BUDGET, device: str | None = None, rank: int = 2) -> dict[str, Any]:
    """Load a model and a fingerprint file and measure the evasion curve (a JSON-ready dict)."""
    from fingerprinting.data import load_corpus
    from fingerprinting.fpfile import read_fingerprint_file
    from fingerprinting.models import load_model

    _, fps = read_fingerprint_file(fingerprint_file)
    model, tok = load_model(model_dir, device=device)
    curve = evasion_curve(model, tok, fps, load_corpus(split)[:texts], taus, temperature, samples, seed,
                          budget=budget, rank=rank)
    return {"model": str(model_dir), "fingerprint_file": str(fingerprint_file), "split": split, **curve.to_dict()}
