"""`ape run deploy`: deploy OML and the CommunityFactory (with its four deployers) with the ape project and
record them in deployments.json.

Local network (default, ape starts anvil): deploys from test account 0.
Other networks: `ape run deploy --network <ecosystem:network:provider-or-URL> --account <alias>`;
e.g. an anvil you started yourself: `--network ethereum:local:http://127.0.0.1:8545` (test account 0
is funded there too, so --account may be left out on a local chain).

The local network's anvil is the project's own (`node_modules/.bin/anvil`, installed by `make setup`):
ape-foundry looks for `anvil` on PATH, so this script puts that directory first on PATH when it exists,
and `.venv/bin/ape run deploy` works from a plain shell (no need for `make`'s PATH).
"""

from __future__ import annotations

import os
from pathlib import Path

_NODE_BIN = Path(__file__).resolve().parent.parent / "node_modules" / ".bin"
if (_NODE_BIN / "anvil").exists() and str(_NODE_BIN) not in os.environ.get("PATH", "").split(os.pathsep):
    os.environ["PATH"] = str(_NODE_BIN) + os.pathsep + os.environ.get("PATH", "")

import click  # noqa: E402
from ape import accounts, project  # noqa: E402
from ape.cli import ConnectedProviderCommand, ape_cli_context, network_option  # noqa: E402

from oml_chain.chain.deploy import DEFAULT_DEPLOYMENTS, write_deployment  # noqa: E402


@click.command(cls=ConnectedProviderCommand, short_help="Deploy the OML contract and the CommunityFactory")
@ape_cli_context()
@network_option()
@click.option("--account", "account_alias", default=None,
              help="Alias of an ape account (`ape accounts list`); default: test account 0 on local chains.")
@click.option("--deployments", type=click.Path(dir_okay=False), default=str(DEFAULT_DEPLOYMENTS), show_default=True,
              help="JSON file recording {chainId: {OML: address, block: n, CommunityFactory: address}}.")
def cli(cli_ctx, network, provider, account_alias, deployments):
    """Deploy OML and the CommunityFactory and write their addresses to the deployments file."""
    chain_id = provider.web3.eth.chain_id  # ask the node: a custom-URL network may not match ape's default
    if account_alias:
        account = accounts.load(account_alias)
    elif network.is_local or chain_id == 31337:
        account = accounts.test_accounts[0]
    else:
        raise click.UsageError(f"network {network.name} is not local: pass --account <alias> to deploy from "
                               "one of your ape accounts")
    # chain_id explicit: for a custom-URL local network ape otherwise signs with its default local chain id
    oml = account.deploy(project.OML, chain_id=chain_id)
    block = oml.receipt.block_number if getattr(oml, "receipt", None) else provider.get_block("latest").number
    # community ownership: one deployer per creation code, then the factory, then each deployer names it (once)
    deployers = [account.deploy(getattr(project, name), chain_id=chain_id)
                 for name in ("SharesDeployer", "VaultDeployer", "TimelockDeployer", "GovernorDeployer")]
    factory = account.deploy(project.CommunityFactory, oml.address, *(d.address for d in deployers), chain_id=chain_id)
    for d in deployers:
        d.setFactory(factory.address, sender=account, chain_id=chain_id)
    write_deployment(deployments, chain_id, oml.address, block, extra={"CommunityFactory": factory.address})
    cli_ctx.logger.success(f"OML deployed at {oml.address} on chain {chain_id} (block {block}), CommunityFactory at "
                           f"{factory.address}; recorded in {deployments}")
