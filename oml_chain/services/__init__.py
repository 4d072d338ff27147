"""OML services: permission service, host server, distribution server, prover (see README.md)."""
