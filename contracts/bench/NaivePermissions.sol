// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

/// @title NaivePermissions
/// @notice Benchmark baseline only (not part of OML): the "naive" design in which every permitted query is
/// its own on-chain transaction that pays the fee and records the permission in storage.
/// @dev Used to compare gas per query with OML's cumulative vouchers (one `settle` for many queries).
contract NaivePermissions {
    /// @notice The fee sent is not the model's price.
    error NaiveWrongFee(uint256 sent, uint256 price);
    /// @notice The query was already permitted.
    error NaiveAlreadyPermitted(uint256 modelId, bytes32 queryHash);
    /// @notice Only the model's owner may change its price.
    error NaiveNotOwner(uint256 modelId, address caller, address owner);

    /// @notice `host` paid `fee` and was permitted `queryHash` on `modelId`.
    event QueryPermitted(uint256 indexed modelId, address indexed host, bytes32 indexed queryHash, uint256 fee);
    /// @notice A model's price was set by `owner`.
    event NaivePriceSet(uint256 indexed modelId, address indexed owner, uint256 price);

    struct NaiveModel {
        address owner;
        uint96 price;
    }

    mapping(uint256 modelId => NaiveModel) private _models;
    mapping(uint256 modelId => mapping(bytes32 queryHash => address host)) private _permittedBy;
    mapping(uint256 modelId => uint256 amount) private _revenue;

    /// @notice Set the fee per query for `modelId`; the first caller becomes the model's owner.
    function setPrice(uint256 modelId, uint96 price) external {
        NaiveModel storage m = _models[modelId];
        if (m.owner == address(0)) m.owner = msg.sender;
        require(m.owner == msg.sender, NaiveNotOwner(modelId, msg.sender, m.owner));
        m.price = price;
        emit NaivePriceSet(modelId, msg.sender, price);
    }

    /// @notice Pay the fee for one query and record it as permitted (one transaction per query).
    function permit(uint256 modelId, bytes32 queryHash) external payable {
        uint256 price = _models[modelId].price;
        require(msg.value == price, NaiveWrongFee(msg.value, price));
        require(_permittedBy[modelId][queryHash] == address(0), NaiveAlreadyPermitted(modelId, queryHash));
        _permittedBy[modelId][queryHash] = msg.sender;
        _revenue[modelId] += msg.value;
        emit QueryPermitted(modelId, msg.sender, queryHash, msg.value);
    }

    /// @notice The host that was permitted `queryHash`, or zero.
    function permittedBy(uint256 modelId, bytes32 queryHash) external view returns (address) {
        return _permittedBy[modelId][queryHash];
    }

    /// @notice Fees collected for `modelId`.
    function revenueOf(uint256 modelId) external view returns (uint256) {
        return _revenue[modelId];
    }
}
