"""OML chain side: EIP-712 structs, Merkle commitment, web3 client, services and the `oml` CLI."""
