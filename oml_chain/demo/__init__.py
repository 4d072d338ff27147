"""`make demo` (top layer): the whole system end to end (orchestrate.py), the demo model (model_prep.py) and
the service processes it starts (procs.py). Run with `python -m oml_chain.demo`."""
