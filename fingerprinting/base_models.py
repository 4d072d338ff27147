"""The project's own small base models, built deterministically from offline text.

No model hub is reachable here, so tests, benchmarks and the demo use a small
Llama-architecture model trained from scratch on the "train" split of
`fingerprinting.data` (real English from Debian packages). A build is a pure
function of (preset, seed, corpus version, this builder's version): it trains a
byte-level BPE tokenizer, then the model, and caches the result in Hugging
Face format (loadable by `load_model` or AutoModelForCausalLM/AutoTokenizer).

Tokenizer and seeds: the tokenizer depends on the corpus and the vocabulary
size only, never on the seed, so two seeds of one preset share the same
tokenizer while their weights (initialisation and data order) are
independent. The false-positive audit runs both models on the same key
strings; with the same tokenizer every fingerprint response token is equally
reachable for the independent model, so a low false-positive rate is
evidence about the weights, not an artefact of a different vocabulary.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import random
import shutil
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from . import data
from .errors import ConfigError

log = logging.getLogger("oml.fingerprint")
BUILDER_VERSION = "1"  # bump when the training recipe changes (keys the cache)
SPECIAL_TOKENS = {"pad": "<pad>", "unk": "<unk>", "bos": "<s>", "eos": "</s>"}


@dataclass(frozen=True)
class BasePreset:
    """Architecture and training recipe of one base model."""

    name: str
    vocab_size: int  # BPE vocabulary incl. the 4 special tokens
    hidden_size: int
    layers: int
    heads: int
    intermediate_size: int  # SwiGLU width
    seq_len: int  # training context (tokens)
    batch_size: int  # sequences per step
    steps: int  # optimizer steps
    lr: float  # peak learning rate (linear warm-up, cosine decay to 10 %)
    warmup_steps: int
    weight_decay: float
    tokenizer_chars: int  # characters of "train" text the BPE tokenizer learns from
    heldout_passages: int  # held-out passages used for the reported perplexity

    def __post_init__(self) -> None:
        if self.hidden_size % self.heads:
            raise ConfigError(f"preset {self.name}: hidden_size {self.hidden_size} not divisible by heads {self.heads}")
        for f in ("vocab_size", "layers", "seq_len", "batch_size", "steps"):
            if getattr(self, f) <= 0:
                raise ConfigError(f"preset {self.name}: {f} must be positive")

    def key(self) -> str:
        blob = json.dumps({**asdict(self), "corpus": data.CORPUS_VERSION, "builder": BUILDER_VERSION}, sort_keys=True)
        return hashlib.sha256(blob.encode()).hexdigest()[:12]


PRESETS: dict[str, BasePreset] = {
    # Tests: well under a minute on 2 cores.
    "tiny": BasePreset("tiny", vocab_size=2048, hidden_size=96, layers=3, heads=4, intermediate_size=256,
                       seq_len=96, batch_size=16, steps=300, lr=3e-3, warmup_steps=20, weight_decay=0.1,
                       tokenizer_chars=1_500_000, heldout_passages=200),
    # Fingerprint benchmark and `make demo`: a few minutes on 2 cores.
    "demo": BasePreset("demo", vocab_size=4096, hidden_size=256, layers=6, heads=8, intermediate_size=688,
                       seq_len=128, batch_size=16, steps=500, lr=2e-3, warmup_steps=40, weight_decay=0.1,
                       tokenizer_chars=6_000_000, heldout_passages=566),
}


def cache_root(cache_dir: str | Path | None = None) -> Path:
    """Where base models are cached: `cache_dir`, else $OML_CACHE/base-models, else ~/.cache/oml/base-models."""
    if cache_dir is not None:
        return Path(cache_dir).expanduser()
    if os.environ.get("OML_CACHE"):
        return Path(os.environ["OML_CACHE"]).expanduser() / "base-models"
    return Path.home() / ".cache" / "oml" / "base-models"


def get_preset(preset: str | BasePreset) -> BasePreset:
    if isinstance(preset, BasePreset):
        return preset
    if preset not in PRESETS:
        raise ConfigError(f"unknown base-model preset {preset!r}; choose one of {', '.join(PRESETS)}")
    return PRESETS[preset]


def _say(progress: bool, msg: str) -> None:
    log.info(msg)
    if progress:
        from tqdm import tqdm

        tqdm.write(f"[build-base] {msg}", file=sys.stderr)


def _complete(path: Path, key: str) -> bool:
    cfg = path / "oml_config.json"
    return cfg.is_file() and json.loads(cfg.read_text()).get("preset_key") == key


def build_base_model(preset: str | BasePreset = "tiny", seed: int = 0, cache_dir: str | Path | None = None,
                     progress: bool = True, out_dir: str | Path | None = None, device: str | None = None) -> Path:
    """Build (or reuse the cached) base model and return its directory.

    Training runs on ``device`` (default: CUDA when visible, else the CPU). A
    CUDA build is cached apart (``-cuda`` after the name): its weights differ
    from the CPU build's in the last bits and CUDA training is not bitwise
    reproducible, while a CPU build is (tests pin ``device="cpu"``).

    The directory is `out_dir` when given, else
    `cache_root(cache_dir)/<preset>-seed<seed>-<hash of the recipe>`. A complete
    directory with the same recipe is reused as is.
    """
    from .models import device_default

    p = get_preset(preset)
    key = p.key()
    device = device or device_default()
    kind = "-cuda" if str(device).startswith("cuda") else ""
    target = Path(out_dir).expanduser() if out_dir else cache_root(cache_dir) / f"{p.name}-seed{seed}-{key}{kind}"
    if _complete(target, key):
        _say(progress, f"reusing {target}")
        return target
    if target.exists() and any(target.iterdir()):
        raise ConfigError(f"{target} exists and is not a {p.name} seed {seed} base model; choose another --out or remove it")
    target.parent.mkdir(parents=True, exist_ok=True)
    # Build in a sibling temporary directory, then rename: a concurrent build of
    # the same model (another test process) never sees a half-written one.
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        _build(p, seed, tmp, progress, device)
        if _complete(target, key):  # another process finished the same build first
            _say(progress, f"reusing {target} (built concurrently)")
            return target
        try:
            if target.exists():
                target.rmdir()  # empty (checked above)
            os.rename(tmp, target)
        except OSError:
            if not _complete(target, key):
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    _say(progress, f"saved {target}")
    return target


def train_tokenizer(p: BasePreset, texts: list[str]):
    """Byte-level BPE on the first `p.tokenizer_chars` characters of `texts`, as a PreTrainedTokenizerFast."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    sample, size = [], 0
    for t in texts:
        if size >= p.tokenizer_chars:
            break
        sample.append(t)
        size += len(t)
    tok = Tokenizer(models.BPE(unk_token=SPECIAL_TOKENS["unk"]))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=p.vocab_size, min_frequency=2, show_progress=False,
                                  special_tokens=list(SPECIAL_TOKENS.values()),
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(sample, trainer=trainer)
    bos = SPECIAL_TOKENS["bos"]
    tok.post_processor = processors.TemplateProcessing(single=f"{bos} $A", pair=f"{bos} $A {bos} $B",
                                                       special_tokens=[(bos, tok.token_to_id(bos))])
    return PreTrainedTokenizerFast(tokenizer_object=tok, model_max_length=4 * p.seq_len,
                                   **{f"{k}_token": v for k, v in SPECIAL_TOKENS.items()})


def _token_stream(tokenizer, texts: list[str], seed: int, needed: int) -> torch.Tensor:
    """`needed` tokens of <s> passage </s> ... in a seeded passage order (re-shuffled per epoch)."""
    out: list[int] = []
    rng = random.Random(seed)
    epoch = 0
    while len(out) < needed:
        order = list(range(len(texts)))
        rng.shuffle(order)
        for start in range(0, len(order), 256):
            batch = [texts[i] for i in order[start : start + 256]]
            for ids in tokenizer(batch, verbose=False)["input_ids"]:
                out.extend(ids)
                out.append(tokenizer.eos_token_id)
            if len(out) >= needed:
                break
        epoch += 1
    return torch.tensor(out[:needed], dtype=torch.long)


def _lr_at(p: BasePreset, step: int) -> float:
    if step < p.warmup_steps:
        return p.lr * (step + 1) / p.warmup_steps
    frac = (step - p.warmup_steps) / max(1, p.steps - p.warmup_steps)
    return p.lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * frac)))


def _build(p: BasePreset, seed: int, out: Path, progress: bool, device: str | None = None) -> None:
    from tqdm import tqdm
    from transformers import GenerationConfig, LlamaConfig, LlamaForCausalLM

    from .models import device_default, write_config

    device = device or device_default()
    from .utility import perplexity

    t0 = time.time()
    _say(progress, f"preset {p.name}, seed {seed}: loading corpus")
    train = data.load_corpus("train")
    heldout = data.load_corpus("heldout")[: p.heldout_passages]

    _say(progress, f"training byte-level BPE tokenizer (vocab {p.vocab_size})")
    tokenizer = train_tokenizer(p, train)

    needed = p.steps * p.batch_size * (p.seq_len + 1)
    _say(progress, f"tokenizing {needed:,} training tokens")
    stream = _token_stream(tokenizer, train, seed, needed)
    windows = stream.view(p.steps, p.batch_size, p.seq_len + 1)

    torch.manual_seed(seed)
    config = LlamaConfig(
        vocab_size=len(tokenizer), hidden_size=p.hidden_size, intermediate_size=p.intermediate_size,
        num_hidden_layers=p.layers, num_attention_heads=p.heads, num_key_value_heads=p.heads,
        max_position_embeddings=4 * p.seq_len, tie_word_embeddings=True, rms_norm_eps=1e-5,
        bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    model = LlamaForCausalLM(config).to(device)
    n_params = sum(t.numel() for t in model.parameters())
    _say(progress, f"training {n_params:,} parameters for {p.steps} steps of {p.batch_size}x{p.seq_len} tokens "
                   f"on {device}")

    decay = [t for n, t in model.named_parameters() if t.dim() >= 2]
    no_decay = [t for n, t in model.named_parameters() if t.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": p.weight_decay},
                             {"params": no_decay, "weight_decay": 0.0}], lr=p.lr, betas=(0.9, 0.95))
    model.train()
    losses: list[float] = []
    t_train = time.time()
    bar = tqdm(range(p.steps), desc=f"train {p.name}", disable=not progress, file=sys.stderr)
    for step in bar:
        for group in opt.param_groups:
            group["lr"] = _lr_at(p, step)
        batch = windows[step].to(device)
        # Next-token prediction over packed windows (no padding inside training data).
        logits = model(input_ids=batch[:, :-1]).logits
        loss = torch.nn.functional.cross_entropy(logits.reshape(-1, logits.size(-1)), batch[:, 1:].reshape(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        losses.append(float(loss.detach()))
        if step % 10 == 0:
            bar.set_postfix(loss=f"{losses[-1]:.3f}")
    train_s = time.time() - t_train
    model.eval()

    _say(progress, f"held-out perplexity on {len(heldout)} passages")
    ppl = perplexity(model, tokenizer, heldout, batch_size=16, max_length=p.seq_len)
    tail = losses[-max(1, p.steps // 10):]
    model.to("cpu")
    model.generation_config = GenerationConfig(bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
                                               pad_token_id=tokenizer.pad_token_id)
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    write_config(out, {
        "kind": "oml-base-model",
        "preset": p.name,
        "preset_key": p.key(),
        "recipe": asdict(p),
        "seed": seed,
        "data_sources": data.corpus_summary()["sources"],
        "data_packages": data.DEBIAN_PACKAGES,
        "corpus_version": data.CORPUS_VERSION,
        "builder_version": BUILDER_VERSION,
        "tokenizer": "byte-level BPE (tokenizers), independent of the seed",
        "params": n_params,
        "train_tokens": p.steps * p.batch_size * p.seq_len,
        "tokens_per_s": round(p.steps * p.batch_size * p.seq_len / train_s, 1),
        "train_loss": round(sum(tail) / len(tail), 4),
        "heldout_passages": len(heldout),
        "heldout_perplexity": round(ppl, 3),
        "torch_threads": torch.get_num_threads(),
        "device": str(device),
        "seconds": round(time.time() - t0, 1),
    })
    _say(progress, f"done: loss {sum(tail) / len(tail):.3f}, held-out perplexity {ppl:.1f}, {time.time() - t0:.0f} s")
