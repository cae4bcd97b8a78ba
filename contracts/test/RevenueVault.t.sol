// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

import {IAccessControl} from "@openzeppelin/contracts/access/IAccessControl.sol";
import {Pausable} from "@openzeppelin/contracts/utils/Pausable.sol";
import {ModeldexTest} from "./utils/ModeldexTest.sol";
import {ModelToken} from "../src/ModelToken.sol";
import {ModelSale} from "../src/ModelSale.sol";
import {IRevenueVault} from "../src/interfaces/IRevenueVault.sol";

contract RevenueVaultTest is ModeldexTest {
    ModelToken internal token;
    ModelSale internal sale;
    ModelToken internal token2;

    function setUp() public override {
        super.setUp();
        (token, sale) = _tokenize("org/model");
        (token2,) = _tokenize("org/model-2");
    }

    // ---------------------------------------------------------------- deposit

    function test_deposit_pullsPacaAndEmits() public {
        _fund(alice, 100e18);
        vm.startPrank(alice);
        paca.approve(address(vault), 100e18);
        vm.expectEmit(true, true, false, true, address(vault));
        emit IRevenueVault.Deposited(payer, alice, 100e18);
        vault.deposit(payer, 100e18);
        vm.stopPrank();
        assertEq(vault.totalDeposited(), 100e18);
        assertEq(vault.escrowBalance(), 100e18);
        assertEq(paca.balanceOf(address(vault)), 100e18);
    }

    function test_RevertWhen_depositZeroAmount() public {
        vm.expectRevert(IRevenueVault.ZeroAmount.selector);
        vault.deposit(payer, 0);
    }

    function test_RevertWhen_depositZeroPayer() public {
        vm.expectRevert(IRevenueVault.ZeroAddress.selector);
        vault.deposit(address(0), 1);
    }

    function test_RevertWhen_depositWithoutApproval() public {
        _fund(alice, 1e18);
        vm.expectRevert();
        vm.prank(alice);
        vault.deposit(payer, 1e18);
    }

    function test_RevertWhen_depositPaused() public {
        vm.prank(guardian);
        vault.pause();
        vm.expectRevert(Pausable.EnforcedPause.selector);
        vault.deposit(payer, 1);
    }

    // ---------------------------------------------------------------- settle

    function test_settle_splitsFeesAndNotifiesToken() public {
        _deposit(payer, 1_000e18);
        vm.expectEmit(true, true, false, true, address(vault));
        emit IRevenueVault.ModelSettled(1, address(token), 100e18, 100e18);
        vm.expectEmit(true, false, false, true, address(vault));
        emit IRevenueVault.Settled(1, keccak256(abi.encode(uint64(1))), 1, 100e18, 500, 1_000);
        _settleOne(1, address(token), 100e18);

        assertEq(vault.settledFees(address(token)), 100e18);
        assertEq(vault.protocolFeesOwed(), 5e18);
        assertEq(vault.creatorFeesOwed(address(token)), 10e18);
        assertEq(paca.balanceOf(address(token)), 85e18);
        assertEq(vault.escrowBalance(), 900e18);
        assertEq(vault.lastSettledEpoch(), 1);
        assertEq(vault.usageRoot(1), keccak256(abi.encode(uint64(1))));
        assertEq(paca.balanceOf(address(vault)), 915e18);
    }

    function test_settle_replayedCumulativePaysNothing() public {
        _deposit(payer, 1_000e18);
        _settleOne(1, address(token), 100e18);
        _settleOne(2, address(token), 100e18);
        assertEq(vault.totalSettled(), 100e18);
        assertEq(paca.balanceOf(address(token)), 85e18);
    }

    function test_settle_skippedEpochHealsOnNext() public {
        _deposit(payer, 1_000e18);
        _settleOne(1, address(token), 100e18);
        // epoch 2 never settled; epoch 3 carries the cumulative total
        _settleOne(3, address(token), 250e18);
        assertEq(vault.settledFees(address(token)), 250e18);
        assertEq(vault.totalSettled(), 250e18);
        assertEq(vault.lastSettledEpoch(), 3);
        assertEq(vault.usageRoot(2), bytes32(0));
    }

    function test_settle_manyModels() public {
        _deposit(payer, 1_000e18);
        address[] memory models = new address[](2);
        uint256[] memory fees = new uint256[](2);
        models[0] = address(token);
        models[1] = address(token2);
        fees[0] = 10e18;
        fees[1] = 20e18;
        vm.prank(settler);
        vault.settle(1, models, fees, bytes32(uint256(1)));
        assertEq(vault.totalSettled(), 30e18);
        assertEq(paca.balanceOf(address(token2)), 17e18);
    }

    function test_RevertWhen_settleEpochNotIncreasing() public {
        _deposit(payer, 1_000e18);
        _settleOne(5, address(token), 1e18);
        vm.expectRevert(abi.encodeWithSelector(IRevenueVault.EpochNotIncreasing.selector, 5, 5));
        _settleOne(5, address(token), 2e18);
        vm.expectRevert(abi.encodeWithSelector(IRevenueVault.EpochNotIncreasing.selector, 4, 5));
        _settleOne(4, address(token), 2e18);
    }

    /// @dev A settler bug (a huge epoch, milliseconds instead of hours) must not block settlement: epochs
    ///      only increase and the vault cannot be upgraded, so such an epoch is refused, and the next
    ///      real epoch still settles.
    function test_RevertWhen_settleEpochInFuture() public {
        _deposit(payer, 1_000e18);
        uint64 current = uint64(block.timestamp / EPOCH_SECONDS);
        vm.expectRevert(abi.encodeWithSelector(IRevenueVault.EpochInFuture.selector, type(uint64).max, current));
        _settleOne(type(uint64).max, address(token), 1e18);
        uint64 inMilliseconds = uint64(block.timestamp * 1000 / EPOCH_SECONDS);
        vm.expectRevert(abi.encodeWithSelector(IRevenueVault.EpochInFuture.selector, inMilliseconds, current));
        _settleOne(inMilliseconds, address(token), 1e18);
        vm.expectRevert(abi.encodeWithSelector(IRevenueVault.EpochInFuture.selector, current + 2, current));
        _settleOne(current + 2, address(token), 1e18);

        _settleOne(current - 1, address(token), 1e18);
        assertEq(vault.lastSettledEpoch(), current - 1);
        assertEq(vault.settledFees(address(token)), 1e18);
    }

    /// @dev The epoch after the current one passes (a settler clock a little ahead of the chain's), and
    ///      the epoch range moves with time.
    function test_settle_acceptsTheNextEpochAndMovesWithTime() public {
        _deposit(payer, 1_000e18);
        uint64 current = uint64(block.timestamp / EPOCH_SECONDS);
        _settleOne(current + 1, address(token), 1e18);
        vm.expectRevert(abi.encodeWithSelector(IRevenueVault.EpochInFuture.selector, current + 2, current));
        _settleOne(current + 2, address(token), 2e18);
        vm.warp(block.timestamp + EPOCH_SECONDS);
        _settleOne(current + 2, address(token), 2e18);
        assertEq(vault.lastSettledEpoch(), current + 2);
    }

    /// @dev After downtime the settler jumps to the epoch of the oldest usage waiting, skipping many.
    function test_settle_jumpsOverEpochsSkippedDuringDowntime() public {
        _deposit(payer, 1_000e18);
        uint64 current = uint64(block.timestamp / EPOCH_SECONDS);
        _settleOne(current - 30 days / EPOCH_SECONDS, address(token), 1e18);
        _settleOne(current - 1, address(token), 3e18);
        assertEq(vault.lastSettledEpoch(), current - 1);
        assertEq(vault.settledFees(address(token)), 3e18);
    }

    function test_RevertWhen_settleEpochZero() public {
        vm.expectRevert(abi.encodeWithSelector(IRevenueVault.EpochNotIncreasing.selector, 0, 0));
        _settleOne(0, address(token), 0);
    }

    function test_RevertWhen_settleLengthMismatch() public {
        address[] memory models = new address[](1);
        uint256[] memory fees = new uint256[](2);
        vm.expectRevert(IRevenueVault.LengthMismatch.selector);
        vm.prank(settler);
        vault.settle(1, models, fees, bytes32(0));
    }

    function test_RevertWhen_settleUnknownModel() public {
        vm.expectRevert(abi.encodeWithSelector(IRevenueVault.UnknownModel.selector, alice));
        _settleOne(1, alice, 1);
    }

    function test_RevertWhen_settleCumulativeDecreases() public {
        _deposit(payer, 1_000e18);
        _settleOne(1, address(token), 100e18);
        vm.expectRevert(
            abi.encodeWithSelector(IRevenueVault.CumulativeFeesDecreased.selector, address(token), 100e18, 99e18)
        );
        _settleOne(2, address(token), 99e18);
    }

    function test_RevertWhen_settleMoreThanDeposited() public {
        _deposit(payer, 100e18);
        vm.expectRevert(abi.encodeWithSelector(IRevenueVault.InsufficientEscrow.selector, 100e18 + 1, 100e18));
        _settleOne(1, address(token), 100e18 + 1);
    }

    function test_RevertWhen_settleMoreThanEscrowWhileVaultHoldsOwedFees() public {
        // Owed creator/protocol fees sit in the vault: the escrow check must still refuse.
        _deposit(payer, 100e18);
        _settleOne(1, address(token), 100e18);
        _deposit(payer, 10e18);
        vm.expectRevert(abi.encodeWithSelector(IRevenueVault.InsufficientEscrow.selector, 11e18, 10e18));
        _settleOne(2, address(token), 111e18);
    }

    function test_RevertWhen_settleNotSettler() public {
        address[] memory models = new address[](0);
        uint256[] memory fees = new uint256[](0);
        vm.expectRevert(
            abi.encodeWithSelector(IAccessControl.AccessControlUnauthorizedAccount.selector, alice, vault.SETTLER_ROLE())
        );
        vm.prank(alice);
        vault.settle(1, models, fees, bytes32(0));
    }

    function test_RevertWhen_settlePaused() public {
        vm.prank(guardian);
        vault.pause();
        vm.expectRevert(Pausable.EnforcedPause.selector);
        _settleOne(1, address(token), 0);
    }

    // ---------------------------------------------------------------- withdrawals

    function test_payWithdrawal_paysOncePerId() public {
        _deposit(payer, 100e18);
        vm.expectEmit(true, true, false, true, address(vault));
        emit IRevenueVault.WithdrawalPaid(bytes32("w1"), payer, 40e18);
        vm.prank(settler);
        assertTrue(vault.payWithdrawal(payer, 40e18, "w1"));
        vm.prank(settler);
        assertFalse(vault.payWithdrawal(payer, 40e18, "w1"));
        assertEq(paca.balanceOf(payer), 40e18);
        assertEq(vault.totalWithdrawn(), 40e18);
        assertEq(vault.escrowBalance(), 60e18);
        assertTrue(vault.withdrawalPaid("w1"));
    }

    function test_RevertWhen_payWithdrawalExceedsEscrow() public {
        _deposit(payer, 100e18);
        _settleOne(1, address(token), 70e18);
        vm.expectRevert(abi.encodeWithSelector(IRevenueVault.InsufficientEscrow.selector, 31e18, 30e18));
        vm.prank(settler);
        vault.payWithdrawal(payer, 31e18, "w1");
    }

    function test_RevertWhen_payWithdrawalNotSettler() public {
        vm.expectRevert(
            abi.encodeWithSelector(IAccessControl.AccessControlUnauthorizedAccount.selector, alice, vault.SETTLER_ROLE())
        );
        vm.prank(alice);
        vault.payWithdrawal(payer, 1, "w1");
    }

    function test_RevertWhen_payWithdrawalZeroAmount() public {
        vm.expectRevert(IRevenueVault.ZeroAmount.selector);
        vm.prank(settler);
        vault.payWithdrawal(payer, 0, "w1");
    }

    function test_RevertWhen_payWithdrawalZeroPayer() public {
        vm.expectRevert(IRevenueVault.ZeroAddress.selector);
        vm.prank(settler);
        vault.payWithdrawal(address(0), 1, "w1");
    }

    function test_RevertWhen_payWithdrawalPaused() public {
        vm.prank(guardian);
        vault.pause();
        vm.expectRevert(Pausable.EnforcedPause.selector);
        vm.prank(settler);
        vault.payWithdrawal(payer, 1, "w1");
    }

    // ---------------------------------------------------------------- fees and admin

    function test_claimCreatorFees_paysRegisteredCreator() public {
        _deposit(payer, 100e18);
        _settleOne(1, address(token), 100e18);
        vm.prank(bob); // permissionless trigger, creator is paid
        assertEq(vault.claimCreatorFees(address(token)), 10e18);
        assertEq(paca.balanceOf(creator), 10e18);
        assertEq(vault.claimCreatorFees(address(token)), 0);
    }

    function test_RevertWhen_claimCreatorFeesUnknownModel() public {
        vm.expectRevert(abi.encodeWithSelector(IRevenueVault.UnknownModel.selector, alice));
        vault.claimCreatorFees(alice);
    }

    function test_claimProtocolFees_paysAdminChosenAddress() public {
        _deposit(payer, 100e18);
        _settleOne(1, address(token), 100e18);
        vm.prank(admin);
        assertEq(vault.claimProtocolFees(treasury), 5e18);
        assertEq(paca.balanceOf(treasury), 5e18);
        assertEq(vault.protocolFeesOwed(), 0);
    }

    function test_RevertWhen_claimProtocolFeesNotAdmin() public {
        vm.expectRevert(
            abi.encodeWithSelector(
                IAccessControl.AccessControlUnauthorizedAccount.selector, alice, vault.DEFAULT_ADMIN_ROLE()
            )
        );
        vm.prank(alice);
        vault.claimProtocolFees(alice);
    }

    function test_RevertWhen_claimProtocolFeesToZero() public {
        vm.expectRevert(IRevenueVault.ZeroAddress.selector);
        vm.prank(admin);
        vault.claimProtocolFees(address(0));
    }

    function test_setFeeSplit_updatesAndEmits() public {
        vm.expectEmit(false, false, false, true, address(vault));
        emit IRevenueVault.FeeSplitUpdated(1_000, 0);
        vm.prank(admin);
        vault.setFeeSplit(1_000, 0);
        assertEq(vault.protocolFeeBps(), 1_000);
        assertEq(vault.creatorFeeBps(), 0);
    }

    function test_RevertWhen_setFeeSplitAboveCap() public {
        vm.startPrank(admin);
        vm.expectRevert(abi.encodeWithSelector(IRevenueVault.FeeTooHigh.selector, 1_001, 1_000));
        vault.setFeeSplit(1_001, 0);
        vm.expectRevert(abi.encodeWithSelector(IRevenueVault.FeeTooHigh.selector, 1_001, 1_000));
        vault.setFeeSplit(0, 1_001);
        vm.stopPrank();
    }

    function test_RevertWhen_registerModelNotRegistrar() public {
        vm.expectRevert(
            abi.encodeWithSelector(IAccessControl.AccessControlUnauthorizedAccount.selector, alice, vault.REGISTRAR_ROLE())
        );
        vm.prank(alice);
        vault.registerModel(alice, alice);
    }

    function test_RevertWhen_registerModelTwice() public {
        vm.expectRevert(abi.encodeWithSelector(IRevenueVault.ModelAlreadyRegistered.selector, address(token)));
        vm.prank(address(factory));
        vault.registerModel(address(token), alice);
    }

    function test_RevertWhen_registerModelZeroAddress() public {
        vm.startPrank(address(factory));
        vm.expectRevert(IRevenueVault.ZeroAddress.selector);
        vault.registerModel(address(0), alice);
        vm.expectRevert(IRevenueVault.ZeroAddress.selector);
        vault.registerModel(alice, address(0));
        vm.stopPrank();
    }

    function test_RevertWhen_pauseNotGuardian() public {
        vm.expectRevert(
            abi.encodeWithSelector(IAccessControl.AccessControlUnauthorizedAccount.selector, alice, vault.GUARDIAN_ROLE())
        );
        vm.prank(alice);
        vault.pause();
    }

    function test_unpause_adminResumes() public {
        vm.prank(guardian);
        vault.pause();
        vm.prank(admin);
        vault.unpause();
        _deposit(payer, 1e18);
        assertEq(vault.totalDeposited(), 1e18);
    }

    function test_RevertWhen_constructorFeeAboveCap() public {
        vm.expectRevert(abi.encodeWithSelector(IRevenueVault.FeeTooHigh.selector, 2_000, 1_000));
        new RevenueVaultHarness(address(paca), admin, 2_000, 0, EPOCH_SECONDS);
    }

    function test_RevertWhen_constructorEpochLengthZero() public {
        vm.expectRevert(IRevenueVault.ZeroEpochLength.selector);
        new RevenueVaultHarness(address(paca), admin, 0, 0, 0);
    }
}

import {RevenueVault} from "../src/RevenueVault.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";

contract RevenueVaultHarness is RevenueVault {
    constructor(address paca_, address admin_, uint16 p, uint16 c, uint32 e)
        RevenueVault(IERC20(paca_), admin_, p, c, e)
    {}
}
