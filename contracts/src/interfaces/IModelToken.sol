// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";

/// @title IModelToken
/// @notice ERC-20 share of one tokenized model with built-in PACA revenue sharing.
/// @dev Revenue notified by the RevenueVault drips linearly over `dripPeriod` into a cumulative
///      revenue-per-share accumulator. Holders accrue in proportion to balance x time; the sale,
///      the Uniswap V2 pair, the dead address, the RevenueVault and the token itself cannot claim and
///      are excluded from the share supply.
interface IModelToken is IERC20 {
    /// @notice Initial allocation and wiring of a freshly cloned token.
    struct TokenInit {
        string name;
        string symbol;
        address creator;
        address sale;
        address pair;
        uint256 totalSupply;
        uint256 creatorAllocation;
        uint32 dripPeriod;
    }

    /// @notice A holder claimed `amount` PACA of accrued revenue.
    event Claimed(address indexed account, uint256 amount);
    /// @notice Transfers to the Uniswap V2 pair are enabled (the sale graduated).
    event Launched(address indexed pair);

    /// @notice Only the RevenueVault may notify revenue.
    error NotRevenueVault(address caller);
    /// @notice Only the token's own sale may call this.
    error NotSale(address caller);
    /// @notice Before graduation nobody may fund the Uniswap V2 pair with this token.
    error TransferToPairBeforeLaunch();
    /// @notice Allocation does not fit the supply, or a zero address where one is required.
    error InvalidInit();

    function initialize(TokenInit calldata init) external;

    /// @notice Called by the vault right after it transferred `amount` PACA to this token. Emits nothing:
    ///         the vault's ModelSettled(holderRevenue) is the record.
    function notifyRevenue(uint256 amount) external;

    /// @notice Pays the caller's accrued PACA revenue. Returns the amount paid (0 is not an error).
    function claim() external returns (uint256 amount);

    /// @notice Called by the sale when it graduates, before it funds the pair.
    function launch() external;

    function claimable(address account) external view returns (uint256);
    function isExcluded(address account) external view returns (bool);
    /// @notice Sum of balances that accrue revenue (total supply minus sale, pair, dead, vault, this
    ///         token and burnt).
    function shareSupply() external view returns (uint256);
    function revenuePerShare() external view returns (uint256);
    function creator() external view returns (address);
    function sale() external view returns (address);
    function pair() external view returns (address);
    function launched() external view returns (bool);
    function dripPeriod() external view returns (uint32);
    function paca() external view returns (IERC20);
    function vault() external view returns (address);
}
