// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";

/// @title LocalPaca
/// @notice DEVELOPMENT ONLY stand-in for PACA (18 decimals) with an open faucet.
///         Production deployments take the real PACA address from configuration.
contract LocalPaca is ERC20 {
    uint256 public constant FAUCET_LIMIT = 10_000_000e18;

    error FaucetLimitExceeded(uint256 amount, uint256 limit);

    constructor() ERC20("Paca (local stand-in)", "PACA") {}

    /// @notice Mints up to FAUCET_LIMIT to `to` per call.
    function faucet(address to, uint256 amount) external {
        if (amount > FAUCET_LIMIT) revert FaucetLimitExceeded(amount, FAUCET_LIMIT);
        _mint(to, amount);
    }
}
