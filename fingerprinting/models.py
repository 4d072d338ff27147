"""Load, save and hash causal language models (any Hugging Face causal LM).

`load_model` takes a hub name (on machines that reach a hub) or a local
directory in Hugging Face format - such as the project's own base models from
`fingerprinting.base_models`. Saved models carry an `oml_config.json` beside
the weights: the settings that produced them.

Weights hash (`weights_hash`): keccak256, as Ethereum and the chain contract
use, so it can be stored as a bytes32. It covers the weight files of a model
directory (`*.safetensors`, else `pytorch_model*.bin`), taken in sorted order
of their relative paths (POSIX separators); for each file the hash absorbs
`path (UTF-8) || 0x00 || size (8 bytes, big-endian) || file bytes`. The result
is `0x` followed by 64 lower-case hex digits.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch

from .errors import ConfigError, ModelLoadError
from .modeldir import check_model_dir  # noqa: F401  (re-exported: checked before loading)

CONFIG_FILE = "oml_config.json"


@dataclass(frozen=True)
class LoraSettings:
    """LoRA adapter settings (peft). Only the adapter is trained when set."""

    r: int = 8  # rank of the update matrices
    alpha: int = 16  # scaling numerator (scale = alpha / r)
    dropout: float = 0.0  # dropout on the adapter input
    target_modules: tuple[str, ...] = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")
    extra: dict[str, Any] = field(default_factory=dict)  # passed to peft.LoraConfig as is

    def __post_init__(self) -> None:
        if self.r <= 0:
            raise ConfigError(f"LoraSettings.r must be a positive rank, got {self.r}")
        if self.alpha <= 0:
            raise ConfigError(f"LoraSettings.alpha must be positive, got {self.alpha}")
        if not 0.0 <= self.dropout < 1.0:
            raise ConfigError(f"LoraSettings.dropout must lie in [0, 1), got {self.dropout}")


def device_default() -> str:
    """"cuda" when a CUDA device is visible, else "cpu"."""
    return "cuda" if torch.cuda.is_available() else "cpu"


def cpu_threads_default(limit: int = 4) -> int:
    """Torch CPU threads for a long job: the cores that are idle now (cores − 1-minute load), at least 1.

    Measured on a 2-core VM: building the `demo` model ran 2.1 steps/s with 2 threads on a quiet
    machine, 1.1 steps/s with 1 thread beside another busy process, and 0.13 steps/s with 2 threads
    beside that process (oversubscribed OpenMP threads wait on each other), so never ask for more
    threads than there are idle cores.
    """
    import os

    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    try:
        busy = int(round(os.getloadavg()[0]))
    except OSError:
        busy = 0
    return max(1, min(limit, cores - busy))


def _resolve_dtype(dtype: Any) -> torch.dtype | None:
    if dtype is None or isinstance(dtype, torch.dtype):
        return dtype
    names = {"float32": torch.float32, "fp32": torch.float32, "float16": torch.float16,
             "fp16": torch.float16, "bfloat16": torch.bfloat16, "bf16": torch.bfloat16}
    if str(dtype) not in names:
        raise ConfigError(f"unknown dtype {dtype!r}; use one of {', '.join(names)}")
    return names[str(dtype)]


def _load_error(src: str, exc: Exception) -> ModelLoadError:
    return ModelLoadError(
        f"cannot load model {src!r}: {exc}. Pass a local model directory (no model hub is reachable offline); "
        "`oml fingerprint build-base` makes one"
    )


def load_tokenizer(name_or_path: str | Path):
    """(tokenizer, resolved source) of a model by hub name or local directory: the tokenizer gets a pad token (its
    eos) when it has none and pads on the left, as batched generation needs."""
    from transformers import AutoTokenizer

    src = str(name_or_path)
    local = Path(src).expanduser()
    if local.exists() and not (local / "config.json").is_file():
        raise ModelLoadError(f"{local} is not a model directory (no config.json); pass a directory written by save_model or build_base_model")
    if local.exists():
        src = str(local)
    try:
        tokenizer = AutoTokenizer.from_pretrained(src)
    except OSError as exc:
        raise _load_error(src, exc) from exc
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token if tokenizer.eos_token is not None else tokenizer.unk_token
    tokenizer.padding_side = "left"
    return tokenizer, src


def context_length(name_or_path: str | Path) -> int:
    """The model's context in tokens from its config (max_position_embeddings / n_positions), 0 when unknown."""
    from transformers import AutoConfig

    src = str(Path(str(name_or_path)).expanduser()) if Path(str(name_or_path)).expanduser().exists() else str(name_or_path)
    try:
        cfg = AutoConfig.from_pretrained(src)
    except OSError as exc:
        raise _load_error(src, exc) from exc
    return int(getattr(cfg, "max_position_embeddings", 0) or getattr(cfg, "n_positions", 0) or 0)


def load_model(
    name_or_path: str | Path,
    device: str | None = None,
    dtype: Any = None,
    lora: LoraSettings | None = None,
):
    """Load (model, tokenizer) of a causal LM by hub name or local directory.

    The tokenizer gets a pad token (its eos) when it has none and pads on the
    left, as batched generation needs. The model is in eval mode on `device`
    (default: `device_default()`); with `lora` it is wrapped in a peft LoRA
    model whose adapter alone is trainable.
    """
    from transformers import AutoModelForCausalLM

    torch_dtype = _resolve_dtype(dtype)
    tokenizer, src = load_tokenizer(name_or_path)
    device = device or device_default()
    try:
        model = AutoModelForCausalLM.from_pretrained(src, dtype=torch_dtype)
    except OSError as exc:
        raise _load_error(src, exc) from exc
    if model.config.pad_token_id is None:
        model.config.pad_token_id = tokenizer.pad_token_id
    if model.generation_config is not None and model.generation_config.pad_token_id is None:
        model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.to(device)
    model.eval()
    if lora is not None:
        from peft import LoraConfig, get_peft_model

        cfg = LoraConfig(r=lora.r, lora_alpha=lora.alpha, lora_dropout=lora.dropout,
                         target_modules=list(lora.target_modules), task_type="CAUSAL_LM", **lora.extra)
        model = get_peft_model(model, cfg)
    return model, tokenizer


def save_model(model, tokenizer, out_dir: str | Path, config: dict, merge_lora: bool = True) -> Path:
    """Save model + tokenizer in Hugging Face format with `oml_config.json` beside them.

    A peft (LoRA) model is merged into its base first when `merge_lora`, so the
    directory is an ordinary causal LM that `load_model` (and any host) reads.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    if merge_lora and hasattr(model, "merge_and_unload"):
        model = model.merge_and_unload()
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    write_config(out, config)
    return out


def write_config(out_dir: str | Path, config: dict) -> Path:
    path = Path(out_dir) / CONFIG_FILE
    path.write_text(json.dumps(_jsonable(config), indent=2, sort_keys=True) + "\n")
    return path


def read_config(model_dir: str | Path) -> dict:
    """The `oml_config.json` of a model directory ({} when it has none)."""
    path = Path(model_dir) / CONFIG_FILE
    return json.loads(path.read_text()) if path.is_file() else {}


def _jsonable(obj: Any) -> Any:
    if hasattr(obj, "__dataclass_fields__"):
        return _jsonable(asdict(obj))
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, Path):
        return str(obj)
    if isinstance(obj, torch.dtype):
        return str(obj).removeprefix("torch.")
    return obj


def weight_files(model_dir: str | Path) -> list[Path]:
    """The weight files of a model directory, in canonical (sorted) order."""
    root = Path(model_dir)
    files = sorted(root.rglob("*.safetensors")) or sorted(root.rglob("pytorch_model*.bin"))
    if not files:
        raise ModelLoadError(f"no weight files (*.safetensors or pytorch_model*.bin) under {root}; is it a saved model directory?")
    return sorted(files, key=lambda p: p.relative_to(root).as_posix())


def weights_hash(model_dir: str | Path) -> str:
    """0x-prefixed keccak256 of the weight files (format in the module docstring)."""
    from Crypto.Hash import keccak

    root = Path(model_dir)
    h = keccak.new(digest_bits=256)
    for path in weight_files(root):
        h.update(path.relative_to(root).as_posix().encode("utf-8") + b"\x00")
        h.update(path.stat().st_size.to_bytes(8, "big"))
        with path.open("rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
    return "0x" + h.hexdigest()
