"""OML chain side, in layers whose imports run one way (top to bottom):

- `oml_chain.cli` and `oml_chain.demo`: the `oml` command and `make demo`;
- `oml_chain.services`: permission service, distribution server, host server, prover;
- `oml_chain.chain`: EIP-712 structs, Merkle commitment, ABI types and errors, web3 and role clients, deployment.
"""
