"""OML fingerprinting: generate, embed, check, attack and audit fingerprints in any causal LM."""
