"""The chain layer (bottom of the import graph): EIP-712 structs, the fingerprint Merkle commitment, ABI types
and errors, the web3 client and role clients, compilation, deployment, a local anvil, registration and status.

Nothing here imports the services, the CLI or the demo.
"""
