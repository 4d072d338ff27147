"""`make lint`: Slither over contracts/ (settings: slither.config.json), with one fix to its parser.

Slither (0.11.6, and master as of 2026-02) merges the `using ... for` directives of a contract's
parents with ``dict.update``, so when two parents each have `using L for *` only the last one's
library survives. OpenZeppelin's EIP712 has `using ShortStrings for *` and ReentrancyGuardTransient
`using TransientSlot for *`: in FeeEscrow, Slashing and OML (which inherit both) the guard's
TransientSlot calls stay unresolved, Slither cannot build their IR, marks those three contracts
"incorrectly constructed" and skips the SSA form of every one of their functions. That silently
turns off the data-dependency and call-graph analyses many detectors rely on (msg-value-in-nonpayable
then reports a false High on HostStaking._stake; arbitrary-send-eth and friends see nothing).

The fix below takes the union of the parents' libraries instead. `make lint` also passes
--disallow-partial, so any other parsing gap fails the lint instead of weakening it unnoticed.
"""

from __future__ import annotations

import sys

from slither.__main__ import main
from slither.solc_parsing.declarations.contract import ContractSolc

_analyze_using_for = ContractSolc.analyze_using_for


def _analyze_using_for_union(self: ContractSolc) -> None:
    _analyze_using_for(self)
    using_for = self._contract.using_for
    for father in self._contract.inheritance:
        for key, libraries in father.using_for.items():
            mine = using_for.get(key, [])
            missing = [lib for lib in libraries if lib not in mine]
            if missing:
                using_for[key] = [*mine, *missing]  # a new list: never extend a parent's in place


ContractSolc.analyze_using_for = _analyze_using_for_union

if __name__ == "__main__":
    sys.argv[0] = "slither"
    sys.exit(main())
