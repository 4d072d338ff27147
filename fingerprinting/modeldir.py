"""What a local model directory must hold to be loaded (without importing torch, so a CLI can check first).

`load_model` (models.py) reads a local directory in Hugging Face format: `config.json` and the weight files
at its top, beside the tokenizer files. `check_model_dir` refuses a directory that cannot be such a model,
with a message naming what is missing (and the model directory inside it, when there is one).
"""

from __future__ import annotations

import json
from pathlib import Path

from .errors import ModelLoadError


def check_model_dir(model_dir: str | Path) -> Path:
    """`model_dir` when it holds what `load_model` reads from a local directory: a `config.json` (a JSON object
    naming its `model_type`) and weight files (`*.safetensors` or `pytorch_model*.bin`) at its top.
    ModelLoadError naming what is missing otherwise (and the model directory inside it, if there is one)."""
    root = Path(model_dir).expanduser()
    if not root.is_dir():
        raise ModelLoadError(f"{root} is not a directory; pass a model directory (config.json, weights, tokenizer)")
    problems = []
    cfg = root / "config.json"
    if not cfg.is_file():
        problems.append("no config.json")
    else:
        try:
            parsed = json.loads(cfg.read_text())
        except (ValueError, UnicodeDecodeError):
            parsed = None
        if not isinstance(parsed, dict) or not parsed.get("model_type"):
            problems.append("config.json is not a model config (no model_type)")
    if not (any(root.glob("*.safetensors")) or any(root.glob("pytorch_model*.bin"))):
        problems.append("no weight files (*.safetensors or pytorch_model*.bin)")
    if problems:
        inner = sorted(p.parent for p in root.glob("*/config.json"))
        hint = f"; did you mean {inner[0]}?" if inner else ""
        raise ModelLoadError(f"{root} is not a model directory ({', '.join(problems)}); pass the directory "
                             f"written by save_model or `oml fingerprint embed` (its model/ subdirectory){hint}")
    return root
