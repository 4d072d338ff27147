"""Registry of fingerprint key and response strategies.

A strategy is a dataclass whose fields are its parameters (with defaults) and
whose ``generate`` method produces strings:

- key strategies: ``generate(ctx, n) -> list[str]`` (n keys);
- response strategies: ``generate(ctx, keys) -> list[str]`` (one response per key), and optionally
  ``generate_sets(ctx, keys) -> list[list[str]]`` (several responses per key; generate.py prefers it).

A new strategy is one module in this package and one registration::

    @register_key_strategy("my_keys")
    @dataclass
    class MyKeys:
        key_length: int = 16
        def generate(self, ctx: GenerationContext, n: int) -> list[str]: ...

``make_key_strategy(name, **params)`` / ``make_response_strategy`` look a
strategy up by name and build it, with errors that list the known names and
parameters. Everything random draws from ``ctx.rng`` (Python) or
``ctx.torch_generator`` / ``ctx.seed`` (torch sampling), so a run is
deterministic given the seed.
"""

from __future__ import annotations

import dataclasses
import importlib
import random
from dataclasses import dataclass, field
from typing import Any, Callable, Protocol, TypeVar

import torch

from fingerprinting.errors import ConfigError, FingerprintError

__all__ = [
    "GenerationContext",
    "KeyStrategy",
    "ResponseStrategy",
    "register_key_strategy",
    "register_response_strategy",
    "make_key_strategy",
    "make_response_strategy",
    "key_strategy_names",
    "response_strategy_names",
    "strategy_params",
]


@dataclass
class GenerationContext:
    """What a strategy may use: the model it writes for, randomness, batching."""

    model: Any = None  # a causal LM (None for strategies that need no model)
    tokenizer: Any = None
    seed: int = 0
    batch_size: int = 32
    rng: random.Random = field(init=False)

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    def require_model(self, strategy: str) -> None:
        if self.model is None or self.tokenizer is None:
            raise ConfigError(f"strategy {strategy!r} needs a model and tokenizer; pass --model / model=")


class KeyStrategy(Protocol):
    def generate(self, ctx: GenerationContext, n: int) -> list[str]: ...


class ResponseStrategy(Protocol):
    def generate(self, ctx: GenerationContext, keys: list[str]) -> list[str]: ...


_KEYS: dict[str, type] = {}
_RESPONSES: dict[str, type] = {}
# Built-in strategy modules, imported lazily on first lookup (they import torch models).
_BUILTIN_MODULES = ("random_tokens", "random_words", "english_keys", "english_random",
                    "perinucleus", "english_responses")
T = TypeVar("T", bound=type)


def _register(table: dict[str, type], kind: str, name: str) -> Callable[[T], T]:
    def deco(cls: T) -> T:
        if not dataclasses.is_dataclass(cls):
            raise TypeError(f"{kind} strategy {name!r} must be a dataclass")
        if name in table and table[name] is not cls:
            raise FingerprintError(f"{kind} strategy {name!r} is already registered")
        table[name] = cls
        cls.strategy_name = name  # type: ignore[attr-defined]
        return cls
    return deco


def register_key_strategy(name: str) -> Callable[[T], T]:
    """Class decorator: register a key strategy under ``name``."""
    return _register(_KEYS, "key", name)


def register_response_strategy(name: str) -> Callable[[T], T]:
    """Class decorator: register a response strategy under ``name``."""
    return _register(_RESPONSES, "response", name)


def _load_builtins() -> None:
    for mod in _BUILTIN_MODULES:
        importlib.import_module(f"{__name__}.{mod}")


def key_strategy_names() -> list[str]:
    _load_builtins()
    return sorted(_KEYS)


def response_strategy_names() -> list[str]:
    _load_builtins()
    return sorted(_RESPONSES)


def _make(table: dict[str, type], kind: str, name: str, params: dict[str, Any]) -> Any:
    _load_builtins()
    if name not in table:
        raise ConfigError(f"unknown {kind} strategy {name!r}; known: {', '.join(sorted(table))}")
    cls = table[name]
    known = {f.name: f for f in dataclasses.fields(cls)}
    for p in params:
        if p not in known:
            raise ConfigError(
                f"{kind} strategy {name!r} has no parameter {p!r}; its parameters: {', '.join(known) or 'none'}")
    try:
        return cls(**params)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"bad parameters for {kind} strategy {name!r}: {exc}") from exc


def make_key_strategy(name: str, **params: Any) -> KeyStrategy:
    """Build the key strategy ``name`` with ``params`` (unknown names/params raise FingerprintError)."""
    return _make(_KEYS, "key", name, params)


def make_response_strategy(name: str, **params: Any) -> ResponseStrategy:
    """Build the response strategy ``name`` with ``params``."""
    return _make(_RESPONSES, "response", name, params)


OMIT_DEFAULT = {"omit_default": True}  # field metadata: left out of the header while at its default


def strategy_params(strategy: Any) -> dict[str, Any]:
    """The parameters of a built strategy, as recorded in the fingerprint file header (a parameter added later
    with ``metadata=OMIT_DEFAULT`` only when set, so files and caches made before it existed stay the same)."""
    out = dataclasses.asdict(strategy)
    for f in dataclasses.fields(strategy):
        if f.metadata.get("omit_default") and out[f.name] == f.default:
            del out[f.name]
    return out


def check_positive(**values: float) -> None:
    """Raise ValueError naming the first non-positive parameter (used in __post_init__)."""
    for k, v in values.items():
        if v <= 0:
            raise ValueError(f"{k} must be positive, got {v}")
