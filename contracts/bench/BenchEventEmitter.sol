// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

import {IFeeEscrow} from "../interfaces/IFeeEscrow.sol";
import {IHostStaking} from "../interfaces/IHostStaking.sol";
import {ISlashing} from "../interfaces/ISlashing.sol";

/// @title BenchEventEmitter
/// @notice Benchmark-only (not part of OML; never deployed outside benchmarks/bench_explorer.py): emits OML's
/// own events (the same declarations, so the same topics and encoding) in bulk, so that the explorer's indexer
/// can be measured on 100,000 events without 100,000 transactions. It holds no state and moves no ETH.
contract BenchEventEmitter {
    /// @notice Emit `n` events, event `i` for model `1 + i % models` and host `hosts[(i / models) % hosts.length]`:
    /// of every 20, 16 VoucherSettled, 2 EscrowDeposited, 1 PermissionReceiptsRecorded and 1 HostStaked.
    /// @param models How many model ids to spread the events over (ids 1..models).
    /// @param hosts The host addresses to spread the events over.
    /// @param n How many events to emit.
    /// @param first A counter that makes each batch's values differ (e.g. the number of events emitted before).
    function emitBatch(uint256 models, address[] calldata hosts, uint256 n, uint256 first) external {
        for (uint256 i = 0; i < n; ++i) {
            uint256 modelId = 1 + (i % models);
            address host = hosts[(i / models) % hosts.length];
            uint256 k = first + i;
            uint256 r = i % 20;
            if (r < 16) {
                emit IFeeEscrow.VoucherSettled(modelId, host, k, k * 1e12, (1 + (k % 7)) * 1e12);
            } else if (r < 18) {
                emit IFeeEscrow.EscrowDeposited(modelId, host, 1e17, 1e18 + k * 1e12);
            } else if (r == 18) {
                emit ISlashing.PermissionReceiptsRecorded(modelId, host, keccak256(abi.encode(k)));
            } else {
                emit IHostStaking.HostStaked(modelId, host, 1e17, 1e18 + k * 1e15);
            }
        }
    }
}
