"""`python -m oml_chain.cli`: the `oml` command."""

from .main import main

main()
