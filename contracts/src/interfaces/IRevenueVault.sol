// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

/// @title IRevenueVault
/// @notice Escrow for payers' PACA credit and the settlement point of inference fees.
/// @dev Conservation: totalDeposited >= totalSettled + totalWithdrawn, enforced on every payout.
///      Settlement is cumulative per model (TAP style): each model is paid
///      `cumulativeFees - settledToDate`, so a replay pays nothing and a skipped epoch heals.
interface IRevenueVault {
    /// @notice `from` paid `amount` PACA into escrow, credited to `payer` off chain.
    event Deposited(address indexed payer, address indexed from, uint256 amount);
    /// @notice One settlement epoch closed; `usageRoot` commits to the epoch's usage records.
    ///         Every ModelSettled of this epoch was split with `protocolFeeBps` / `creatorFeeBps`.
    event Settled(
        uint64 indexed epoch,
        bytes32 usageRoot,
        uint256 modelCount,
        uint256 totalFees,
        uint16 protocolFeeBps,
        uint16 creatorFeeBps
    );
    /// @notice Per-model part of a settlement: `fees` = cumulativeFees - previously settled.
    ///         Split (emitted once in Settled to keep this event small): protocolFee = fees * protocolFeeBps
    ///         / 10000, creatorFee = fees * creatorFeeBps / 10000 (both rounded down), and the rest,
    ///         fees - protocolFee - creatorFee, is transferred to the model token and dripped to holders.
    event ModelSettled(uint64 indexed epoch, address indexed model, uint256 cumulativeFees, uint256 fees);
    /// @notice Unused credit paid back to `payer` (once per `withdrawalId`).
    event WithdrawalPaid(bytes32 indexed withdrawalId, address indexed payer, uint256 amount);
    event ModelRegistered(address indexed model, address indexed creator);
    event FeeSplitUpdated(uint16 protocolBps, uint16 creatorBps);
    event ProtocolFeesClaimed(address indexed to, uint256 amount);
    event CreatorFeesClaimed(address indexed model, address indexed creator, uint256 amount);

    error ZeroAmount();
    error ZeroAddress();
    /// @notice Epochs must strictly increase.
    error EpochNotIncreasing(uint64 epoch, uint64 lastSettledEpoch);
    /// @notice The epoch is after the one following `currentEpoch` (block.timestamp / epochLength):
    ///         settled, it would block every settle until its time.
    error EpochInFuture(uint64 epoch, uint256 currentEpoch);
    error ZeroEpochLength();
    error LengthMismatch();
    error UnknownModel(address model);
    error ModelAlreadyRegistered(address model);
    /// @notice A model's cumulative fees went down: the settler's data is inconsistent.
    error CumulativeFeesDecreased(address model, uint256 settled, uint256 cumulativeFees);
    /// @notice The payout would exceed what was ever deposited.
    error InsufficientEscrow(uint256 requested, uint256 available);
    error FeeTooHigh(uint16 bps, uint16 maxBps);

    function deposit(address payer, uint256 amount) external;
    function settle(uint64 epoch, address[] calldata models, uint256[] calldata cumulativeFees, bytes32 usageRoot)
        external;
    /// @notice Settler pays a payer's unused credit. Idempotent: a second call with the same id pays
    ///         nothing and returns false (a crashed settler can resend safely).
    function payWithdrawal(address payer, uint256 amount, bytes32 withdrawalId) external returns (bool paid);
    function registerModel(address model, address creator) external;
    function setFeeSplit(uint16 protocolBps, uint16 creatorBps) external;
    function claimProtocolFees(address to) external returns (uint256 amount);
    function claimCreatorFees(address model) external returns (uint256 amount);
    function pause() external;
    function unpause() external;

    function settledFees(address model) external view returns (uint256);
    function creatorFeesOwed(address model) external view returns (uint256);
    /// @notice The creator paid by claimCreatorFees (read from the model; zero if not registered).
    function creatorOf(address model) external view returns (address);
    function isRegistered(address model) external view returns (bool);
    function usageRoot(uint64 epoch) external view returns (bytes32);
    function lastSettledEpoch() external view returns (uint64);
    /// @notice Seconds per settlement epoch: epoch n covers [n * epochLength, (n + 1) * epochLength) in
    ///         unix time. The settler's EPOCH_SECONDS must equal it.
    function epochLength() external view returns (uint32);
    function withdrawalPaid(bytes32 withdrawalId) external view returns (bool);
    function escrowBalance() external view returns (uint256);
    function totalDeposited() external view returns (uint128);
    function totalSettled() external view returns (uint128);
    function totalWithdrawn() external view returns (uint128);
    function protocolFeesOwed() external view returns (uint128);
    function protocolFeeBps() external view returns (uint16);
    function creatorFeeBps() external view returns (uint16);
}
