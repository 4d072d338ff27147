"""Offline English text for the project's own base models.

No model or data-set hub is reachable here, so the text comes from Debian
packages (installed by `make setup`, target `debian-text`):

* `fortunes` / `fortunes-min` - fortune cookies: quotations, jokes, poems,
  definitions, dialogue (`/usr/share/games/fortunes`, ascii-art excluded);
* `bible-kjv` (+ `bible-kjv-text`) - the King James Bible, read through the
  `bible` program because the text package stores it compressed; passages of
  four consecutive verses of one chapter;
* `wordnet-base` - WordNet 3.0 glosses and usage examples
  (`/usr/share/wordnet/data.*`), five consecutive synsets of one file per
  passage (neighbours are semantically related).

Each passage is a few sentences. Passages are de-duplicated, then assigned to a
split by the SHA-256 of their text, so the splits are
deterministic and pairwise disjoint as sets of strings, and the same text can
never land in two splits. Within a split the order is the hash order, which
interleaves the sources.
"""

from __future__ import annotations

import functools
import hashlib
import re
import shutil
import subprocess
from pathlib import Path

from .errors import ConfigError, CorpusMissingError

DEBIAN_PACKAGES: list[str] = ["fortunes-min", "fortunes", "bible-kjv-text", "bible-kjv", "wordnet-base"]

FORTUNE_DIR = Path("/usr/share/games/fortunes")
WORDNET_DIR = Path("/usr/share/wordnet")
BIBLE_PROGRAM = "bible"
FORTUNE_EXCLUDE = {"ascii-art"}  # pictures, not prose
BIBLE_VERSES_PER_PASSAGE = 4
WORDNET_SYNSETS_PER_PASSAGE = 5
# Caps (characters) keep one source from dominating; WordNet alone is ~9 MB.
SOURCE_CAP_CHARS = {"fortunes": 3_000_000, "bible": 2_500_000, "wordnet": 2_000_000}
CORPUS_VERSION = "1"  # bump when the extraction below changes (it keys the model cache)

# Fraction of passages per split, in hash order (must sum to 1).
SPLITS: dict[str, float] = {"train": 0.82, "heldout": 0.04, "benign": 0.07, "attack": 0.07}
MISSING_HINT = (
    "the offline English corpus is missing: run `make setup` (or `make debian-text`, "
    f"which apt-get installs {' '.join(DEBIAN_PACKAGES)})"
)


def text_sources_present() -> bool:
    """True when every text source this module reads is installed."""
    return (
        FORTUNE_DIR.is_dir()
        and any(p.suffix == ".dat" for p in FORTUNE_DIR.iterdir())
        and (WORDNET_DIR / "data.noun").is_file()
        and shutil.which(BIBLE_PROGRAM) is not None
    )


def _read_text(path: Path) -> str:
    raw = path.read_bytes()
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("latin-1")


def _fortunes() -> list[str]:
    out = []
    for dat in sorted(FORTUNE_DIR.glob("*.dat")):
        src = dat.with_suffix("")
        if src.name in FORTUNE_EXCLUDE or not src.is_file():
            continue
        for item in re.split(r"\n%\n", _read_text(src)):
            lines = [ln.rstrip().replace("\t", "    ") for ln in item.strip("\n%").splitlines()]
            text = "\n".join(lines).strip()
            if len(text) >= 40:
                out.append(text)
    return out


def _bible() -> list[str]:
    proc = subprocess.run(
        [BIBLE_PROGRAM, "-f", "gen1:1-rev22:21"], capture_output=True, text=True, check=False
    )
    if proc.returncode != 0 or not proc.stdout:
        raise CorpusMissingError(f"`bible` failed ({proc.stderr.strip()}); {MISSING_HINT}")
    verses: list[tuple[str, str]] = []  # (book+chapter, text)
    for line in proc.stdout.splitlines():
        m = re.match(r"^(\w+?\d+):\d+ (.*)$", line.strip())
        if m:
            verses.append((m.group(1), m.group(2).strip()))
        elif verses and line.strip():  # wrapped continuation line
            verses[-1] = (verses[-1][0], verses[-1][1] + " " + line.strip())
    out, group, chapter = [], [], None
    for ch, text in verses:
        if ch != chapter or len(group) == BIBLE_VERSES_PER_PASSAGE:
            if group:
                out.append(" ".join(group))
            group, chapter = [], ch
        group.append(text)
    if group:
        out.append(" ".join(group))
    return out


def _wordnet() -> list[str]:
    out = []
    for pos in ("noun", "verb", "adj", "adv"):
        path = WORDNET_DIR / f"data.{pos}"
        if not path.is_file():
            raise CorpusMissingError(f"{path} not found; {MISSING_HINT}")
        group = []
        for line in _read_text(path).splitlines():
            if line.startswith("  ") or " | " not in line:
                continue  # licence header
            head, gloss = line.split(" | ", 1)
            fields = head.split()
            n_words = int(fields[3], 16)
            words = [fields[4 + 2 * i].replace("_", " ") for i in range(n_words)]
            words = [re.sub(r"\(\w+\)$", "", w) for w in words]  # adjective markers like (a)
            gloss = gloss.strip().rstrip(";").strip()
            name = words[0] if len(words) == 1 else f"{words[0]} ({', '.join(words[1:4])})"
            group.append(f"{name}: {gloss}.")
            if len(group) == WORDNET_SYNSETS_PER_PASSAGE:
                out.append(" ".join(group))
                group = []
    return out


def _key(text: str) -> bytes:
    return hashlib.sha256(text.encode("utf-8")).digest()


def _capped(passages: list[str], cap: int) -> list[str]:
    """A deterministic, evenly spread subset of at most `cap` characters."""
    total = sum(len(p) for p in passages)
    if total <= cap:
        return passages
    ranked = sorted(passages, key=_key)
    out, size = [], 0
    for p in ranked:
        if size + len(p) > cap:
            continue
        out.append(p)
        size += len(p)
    return out


@functools.lru_cache(maxsize=1)
def _all_splits() -> dict[str, tuple[str, ...]]:
    if not text_sources_present():
        raise CorpusMissingError(MISSING_HINT)
    sources = {"fortunes": _fortunes(), "bible": _bible(), "wordnet": _wordnet()}
    unique: dict[bytes, str] = {}
    for name, passages in sources.items():
        for p in _capped(passages, SOURCE_CAP_CHARS[name]):
            unique.setdefault(_key(p), p)
    # Split by position of the hash in [0, 1): a pure function of the text.
    bounds, acc = [], 0.0
    for split, frac in SPLITS.items():
        acc += frac
        bounds.append((acc, split))
    out: dict[str, list[str]] = {s: [] for s in SPLITS}
    for key in sorted(unique):
        u = int.from_bytes(key[:8], "big") / 2**64
        split = next(s for b, s in bounds if u < b) if u < bounds[-1][0] else bounds[-1][1]
        out[split].append(unique[key])
    return {s: tuple(v) for s, v in out.items()}


def load_corpus(split: str) -> list[str]:
    """Passages of one split ("train", "heldout", "benign", "attack"), deterministic.

    The splits are pairwise disjoint; "attack" (persistence fine-tuning) shares
    no passage with the pretraining, evaluation or benign-mixing text.
    """
    if split not in SPLITS:
        raise ConfigError(f"unknown corpus split {split!r}; choose one of {', '.join(SPLITS)}")
    return list(_all_splits()[split])


def corpus_summary() -> dict:
    """Passages and characters per split, and where the text comes from."""
    splits = _all_splits()
    return {
        "sources": {
            "fortunes": "Debian fortunes, fortunes-min (/usr/share/games/fortunes)",
            "bible": "Debian bible-kjv-text via bible-kjv (King James Version)",
            "wordnet": "Debian wordnet-base glosses (/usr/share/wordnet)",
        },
        "version": CORPUS_VERSION,
        "splits": {s: {"passages": len(v), "chars": sum(map(len, v))} for s, v in splits.items()},
    }


@functools.lru_cache(maxsize=8)
def _common_words(n: int) -> tuple[str, ...]:
    import wordfreq

    out: list[str] = []
    pool = wordfreq.top_n_list("en", max(4 * n, 1000))
    for w in pool:
        if w.isascii() and w.isalpha() and len(w) >= 3 and w.lower() == w:
            out.append(w)
            if len(out) == n:
                break
    if len(out) < n:
        raise ConfigError(f"wordfreq has only {len(out)} common English words of length >= 3; ask for fewer than {n}")
    return tuple(out)


def common_words(n: int = 2000) -> list[str]:
    """The n most frequent alphabetic English words of length >= 3 (wordfreq), by frequency."""
    if n <= 0:
        raise ConfigError(f"common_words needs n >= 1, got {n}")
    return list(_common_words(n))
