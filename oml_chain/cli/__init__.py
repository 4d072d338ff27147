"""The `oml` command line (top layer): one module per command group, wired together in `main.py`."""

from .main import main

__all__ = ["main"]
