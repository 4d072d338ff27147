"""Check which fingerprints a model carries.

A fingerprint *holds* when the text of the model's greedy continuation of the
key starts with the response, compared exactly as strings - no stripping, the
response's leading space included. That is what the chain checks (the served
response bytes start with the fingerprint response bytes), so a host must
return the continuation text as generated (``tokenizer.decode`` of the new
tokens with special tokens skipped), and a prover compares it the same way.

Records that share a key (perinucleus ``responses_per_key`` > 1) are one
fingerprint with several accepted responses: the key *fires* when the
continuation starts with any of them. Accuracies count keys; ``held`` lists
the records whose own response the continuation starts with (the evidence a
prover would submit), so a firing key puts exactly one of its records there.

Generation is greedy and batched with left padding; every fingerprint is
checked with the bare key (how a prover sends it) and, on request, inside
each system-prompt template (``templates.TRAIN_TEMPLATES`` were seen in
training with prompt augmentation, ``TEST_TEMPLATES`` never were).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Sequence

from fingerprinting.errors import ConfigError
from fingerprinting.fpfile import Fingerprint, key_groups, matching_record, read_fingerprint_file
from fingerprinting.generation import decode, encode_prompts, generate_ids
from fingerprinting.templates import BARE, TEST_TEMPLATES, TRAIN_TEMPLATES, all_templates, apply_template


@dataclass
class CheckResult:
    n: int  # records
    accuracy: float  # fraction of keys firing with the bare key
    held: list[int]  # indices of the records matched with the bare key
    per_template: dict[str, float] = field(default_factory=dict)  # template name -> accuracy (bare included)
    train_template_accuracy: float | None = None  # mean over TRAIN_TEMPLATES checked
    test_template_accuracy: float | None = None  # mean over held-out TEST_TEMPLATES checked
    keys: int | None = None  # distinct keys (= n unless keys carry several responses)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)


def resolve_templates(templates: str | Sequence[str]) -> list[str]:
    """"bare", "train", "test", "all" or a list of template names -> names (bare first)."""
    known = all_templates()
    groups = {BARE: [BARE], "train": [BARE, *TRAIN_TEMPLATES], "test": [BARE, *TEST_TEMPLATES],
              "all": list(known)}
    if isinstance(templates, str):
        if templates not in groups:
            raise ConfigError(f"templates must be one of {', '.join(groups)} or a list of names, got {templates!r}")
        return groups[templates]
    names = [BARE] + [t for t in templates if t != BARE]
    for t in names:
        if t not in known:
            raise ConfigError(f"unknown template {t!r}; known: {', '.join(known)}")
    return names


def check_fingerprints(model: Any, tokenizer: Any, fingerprints: Sequence[Fingerprint],
                       templates: str | Sequence[str] = BARE, batch_size: int = 32) -> CheckResult:
    """Greedy-decode every (template, key) and report which fingerprints hold."""
    if not fingerprints:
        raise ConfigError("no fingerprints to check")
    names = resolve_templates(templates)
    known = all_templates()
    # A few tokens beyond the response's own length absorb tokenization differences.
    room = max(len(tokenizer(fp.response, add_special_tokens=False)["input_ids"]) for fp in fingerprints) + 2
    groups = key_groups(fingerprints)
    prompts = [apply_template(known[name], fingerprints[g[0]].key) for name in names for g in groups]
    new = generate_ids(model, tokenizer, encode_prompts(tokenizer, prompts), room, batch_size)
    k = len(groups)
    match = [matching_record(decode(tokenizer, g), fingerprints, groups[j % k]) for j, g in enumerate(new)]
    per = {name: sum(m is not None for m in match[i * k : (i + 1) * k]) / k for i, name in enumerate(names)}
    train = [per[t] for t in names if t in TRAIN_TEMPLATES]
    test = [per[t] for t in names if t in TEST_TEMPLATES]
    return CheckResult(
        n=len(fingerprints), accuracy=per[BARE], held=sorted(fingerprints[m].index for m in match[:k] if m is not None),
        per_template=per,
        train_template_accuracy=sum(train) / len(train) if train else None,
        test_template_accuracy=sum(test) / len(test) if test else None, keys=k)


def check_model(model_path: str | Path, fingerprint_file: str | Path, templates: str | Sequence[str] = BARE,
                batch_size: int = 32, device: str | None = None) -> CheckResult:
    """Load a model directory (or hub name) and check it against a fingerprint file."""
    from fingerprinting.models import load_model

    _, fps = read_fingerprint_file(fingerprint_file)
    model, tokenizer = load_model(model_path, device=device)
    return check_fingerprints(model, tokenizer, fps, templates, batch_size)
