"""Exceptions of the fingerprinting package.

`fingerprinting` stays usable without any chain code, so it has its own root,
`FingerprintError`. Each subclass also subclasses the matching built-in, so
callers that catch `ValueError` or `FileNotFoundError` keep working. Every
message says what went wrong and what to do about it.
"""

from __future__ import annotations


class FingerprintError(Exception):
    """Root of every error raised by the fingerprinting package."""


class CorpusMissingError(FingerprintError, FileNotFoundError):
    """The offline English text (Debian packages) is not installed."""


class ConfigError(FingerprintError, ValueError):
    """A setting (preset, split, path, hyper-parameter) is invalid."""


class ModelLoadError(FingerprintError, OSError):
    """A model or tokenizer could not be loaded from a name or directory."""
