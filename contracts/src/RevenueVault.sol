// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {Pausable} from "@openzeppelin/contracts/utils/Pausable.sol";
import {ReentrancyGuardTransient} from "@openzeppelin/contracts/utils/ReentrancyGuardTransient.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {SafeCast} from "@openzeppelin/contracts/utils/math/SafeCast.sol";
import {IRevenueVault} from "./interfaces/IRevenueVault.sol";
import {IModelToken} from "./interfaces/IModelToken.sol";

/// @title RevenueVault
/// @notice Payer escrow + cumulative, replay-safe settlement of inference fees to models.
/// @dev Roles: DEFAULT_ADMIN_ROLE (fee split, roles, unpause, protocol fees), SETTLER_ROLE (settle,
///      payWithdrawal), GUARDIAN_ROLE (pause), REGISTRAR_ROLE (the ModelFactory: registerModel).
///      Holder revenue is transferred to the model token at settlement and dripped there.
contract RevenueVault is AccessControl, Pausable, ReentrancyGuardTransient, IRevenueVault {
    using SafeERC20 for IERC20;
    using SafeCast for uint256;

    bytes32 public constant SETTLER_ROLE = keccak256("SETTLER_ROLE");
    bytes32 public constant GUARDIAN_ROLE = keccak256("GUARDIAN_ROLE");
    bytes32 public constant REGISTRAR_ROLE = keccak256("REGISTRAR_ROLE");
    uint16 public constant MAX_FEE_BPS = 1_000; // 10 % each
    uint256 internal constant BPS = 10_000;

    IERC20 public immutable paca;
    /// @inheritdoc IRevenueVault
    uint32 public immutable epochLength;

    /// @dev One slot per model, the only storage settle touches per model.
    struct ModelAccount {
        bool registered;
        uint120 settled; // cumulative fees paid to date
        uint128 creatorOwed; // creator fees not yet claimed
    }

    // slot: fee split + last epoch + protocol fees owed
    uint16 public protocolFeeBps;
    uint16 public creatorFeeBps;
    uint64 public lastSettledEpoch;
    uint128 public protocolFeesOwed;
    // slot: what settle reads and writes. Conservation: escrow = totalDeposited - totalSettled - totalWithdrawn.
    uint128 private _escrow;
    uint128 public totalSettled;
    // slot: informational totals, touched by deposits and withdrawals only
    uint128 public totalDeposited;
    uint128 public totalWithdrawn;

    mapping(address model => ModelAccount) private _accounts;
    mapping(uint64 epoch => bytes32 root) public usageRoot;
    mapping(bytes32 withdrawalId => bool) public withdrawalPaid;

    constructor(IERC20 paca_, address admin, uint16 protocolFeeBps_, uint16 creatorFeeBps_, uint32 epochLength_) {
        if (address(paca_) == address(0) || admin == address(0)) revert ZeroAddress();
        if (epochLength_ == 0) revert ZeroEpochLength();
        paca = paca_;
        epochLength = epochLength_;
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
        _setFeeSplit(protocolFeeBps_, creatorFeeBps_);
    }

    // ---------------------------------------------------------------- payers

    /// @inheritdoc IRevenueVault
    function deposit(address payer, uint256 amount) external nonReentrant whenNotPaused {
        if (payer == address(0)) revert ZeroAddress();
        if (amount == 0) revert ZeroAmount();
        // Measure what arrived rather than trusting `amount` (fee-on-transfer safety).
        uint256 balanceBefore = paca.balanceOf(address(this));
        paca.safeTransferFrom(msg.sender, address(this), amount);
        uint256 received = paca.balanceOf(address(this)) - balanceBefore;
        uint128 credited = received.toUint128();
        totalDeposited += credited;
        _escrow += credited;
        emit Deposited(payer, msg.sender, received);
    }

    /// @inheritdoc IRevenueVault
    function payWithdrawal(address payer, uint256 amount, bytes32 withdrawalId)
        external
        nonReentrant
        whenNotPaused
        onlyRole(SETTLER_ROLE)
        returns (bool paid)
    {
        if (withdrawalPaid[withdrawalId]) return false;
        if (payer == address(0)) revert ZeroAddress();
        if (amount == 0) revert ZeroAmount();
        uint256 available = _escrow;
        if (amount > available) revert InsufficientEscrow(amount, available);
        withdrawalPaid[withdrawalId] = true;
        _escrow = uint128(available - amount);
        totalWithdrawn += uint128(amount);
        paca.safeTransfer(payer, amount);
        emit WithdrawalPaid(withdrawalId, payer, amount);
        return true;
    }

    // ---------------------------------------------------------------- settlement

    /// @inheritdoc IRevenueVault
    function settle(uint64 epoch, address[] calldata models, uint256[] calldata cumulativeFees, bytes32 root)
        external
        nonReentrant
        whenNotPaused
        onlyRole(SETTLER_ROLE)
    {
        uint64 last = lastSettledEpoch;
        if (epoch <= last) revert EpochNotIncreasing(epoch, last);
        // Epochs only increase, so one far ahead (a huge number, milliseconds for seconds) would block
        // every settle until its time, in a vault nobody can upgrade. The settler closes only epochs
        // that ended; the one after the current epoch is let through for a settler clock ahead of the
        // chain's. Epochs skipped after downtime are in the past and pass.
        {
            uint256 current = block.timestamp / epochLength;
            if (epoch > current + 1) revert EpochInFuture(epoch, current);
        }
        if (models.length != cumulativeFees.length) revert LengthMismatch();
        uint256 protocolBps = protocolFeeBps;
        uint256 creatorBps = creatorFeeBps;

        uint256 totalFees;
        uint256 protocolTotal;
        for (uint256 i; i < models.length; ++i) {
            (uint256 fees, uint256 protocolFee) =
                _settleModel(epoch, models[i], cumulativeFees[i], protocolBps, creatorBps);
            totalFees += fees;
            protocolTotal += protocolFee;
        }

        // Conservation: never settle more than the pooled escrow holds. Checked once after the loop;
        // failing it reverts the whole call, the transfers above included.
        uint256 available = _escrow;
        if (totalFees > available) revert InsufficientEscrow(totalFees, available);
        _escrow = uint128(available - totalFees);
        totalSettled += uint128(totalFees);
        lastSettledEpoch = epoch;
        if (protocolTotal > 0) protocolFeesOwed += uint128(protocolTotal);
        usageRoot[epoch] = root;
        emit Settled(epoch, root, models.length, totalFees, uint16(protocolBps), uint16(creatorBps));
    }

    /// @dev Pays one model the difference between its cumulative fees and what it was already paid.
    ///      Touches one vault slot, the token's PACA balance and the token's two drip slots.
    function _settleModel(uint64 epoch, address model, uint256 cumulative, uint256 protocolBps, uint256 creatorBps)
        internal
        returns (uint256 fees, uint256 protocolFee)
    {
        ModelAccount storage account = _accounts[model];
        (bool registered, uint256 settled, uint256 creatorOwed) =
            (account.registered, account.settled, account.creatorOwed);
        if (!registered) revert UnknownModel(model);
        if (cumulative < settled) revert CumulativeFeesDecreased(model, settled, cumulative);
        unchecked {
            fees = cumulative - settled;
        }
        if (fees == 0) return (0, 0);

        // bps are capped at 10 % each: the products cannot overflow for fees < 2^120
        uint256 creatorFee;
        uint256 holderRevenue;
        unchecked {
            protocolFee = (fees * protocolBps) / BPS;
            creatorFee = (fees * creatorBps) / BPS;
            holderRevenue = fees - protocolFee - creatorFee;
        }
        _accounts[model] = ModelAccount({
            registered: true, settled: cumulative.toUint120(), creatorOwed: (creatorOwed + creatorFee).toUint128()
        });
        if (holderRevenue > 0) {
            paca.safeTransfer(model, holderRevenue);
            IModelToken(model).notifyRevenue(holderRevenue);
        }
        emit ModelSettled(epoch, model, cumulative, fees);
    }

    // ---------------------------------------------------------------- fees

    /// @inheritdoc IRevenueVault
    function claimProtocolFees(address to) external nonReentrant onlyRole(DEFAULT_ADMIN_ROLE) returns (uint256 amount) {
        if (to == address(0)) revert ZeroAddress();
        amount = protocolFeesOwed;
        if (amount == 0) return 0;
        protocolFeesOwed = 0;
        paca.safeTransfer(to, amount);
        emit ProtocolFeesClaimed(to, amount);
    }

    /// @inheritdoc IRevenueVault
    /// @dev Permissionless: always pays the model's creator.
    function claimCreatorFees(address model) external nonReentrant returns (uint256 amount) {
        ModelAccount storage account = _accounts[model];
        if (!account.registered) revert UnknownModel(model);
        amount = account.creatorOwed;
        if (amount == 0) return 0;
        account.creatorOwed = 0;
        address creator = IModelToken(model).creator();
        paca.safeTransfer(creator, amount);
        emit CreatorFeesClaimed(model, creator, amount);
    }

    // ---------------------------------------------------------------- admin

    /// @inheritdoc IRevenueVault
    function registerModel(address model, address creator) external onlyRole(REGISTRAR_ROLE) {
        if (model == address(0) || creator == address(0)) revert ZeroAddress();
        if (_accounts[model].registered) revert ModelAlreadyRegistered(model);
        _accounts[model].registered = true;
        emit ModelRegistered(model, creator);
    }

    /// @inheritdoc IRevenueVault
    function setFeeSplit(uint16 protocolBps, uint16 creatorBps) external onlyRole(DEFAULT_ADMIN_ROLE) {
        _setFeeSplit(protocolBps, creatorBps);
    }

    /// @inheritdoc IRevenueVault
    function pause() external onlyRole(GUARDIAN_ROLE) {
        _pause();
    }

    /// @inheritdoc IRevenueVault
    function unpause() external onlyRole(DEFAULT_ADMIN_ROLE) {
        _unpause();
    }

    function _setFeeSplit(uint16 protocolBps, uint16 creatorBps) internal {
        if (protocolBps > MAX_FEE_BPS) revert FeeTooHigh(protocolBps, MAX_FEE_BPS);
        if (creatorBps > MAX_FEE_BPS) revert FeeTooHigh(creatorBps, MAX_FEE_BPS);
        protocolFeeBps = protocolBps;
        creatorFeeBps = creatorBps;
        emit FeeSplitUpdated(protocolBps, creatorBps);
    }

    // ---------------------------------------------------------------- views

    /// @inheritdoc IRevenueVault
    function escrowBalance() external view returns (uint256) {
        return _escrow;
    }

    /// @inheritdoc IRevenueVault
    function settledFees(address model) external view returns (uint256) {
        return _accounts[model].settled;
    }

    /// @inheritdoc IRevenueVault
    function creatorFeesOwed(address model) external view returns (uint256) {
        return _accounts[model].creatorOwed;
    }

    /// @inheritdoc IRevenueVault
    function creatorOf(address model) external view returns (address) {
        return _accounts[model].registered ? IModelToken(model).creator() : address(0);
    }

    /// @inheritdoc IRevenueVault
    function isRegistered(address model) external view returns (bool) {
        return _accounts[model].registered;
    }
}
