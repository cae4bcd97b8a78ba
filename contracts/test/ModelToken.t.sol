// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

import {ModeldexTest} from "./utils/ModeldexTest.sol";
import {ModelToken} from "../src/ModelToken.sol";
import {ModelSale} from "../src/ModelSale.sol";
import {IModelToken} from "../src/interfaces/IModelToken.sol";
import {IModelFactory} from "../src/interfaces/IModelFactory.sol";

contract ModelTokenTest is ModeldexTest {
    uint256 internal constant HOLDER_SHARE_BPS = 8_500; // 100 % - 5 % protocol - 10 % creator
    ModelToken internal token;
    ModelSale internal sale;
    uint256 internal drip; // the default drip period: one settlement epoch

    function setUp() public override {
        super.setUp();
        (token, sale) = _tokenize("org/model");
        drip = token.dripPeriod();
        _deposit(payer, 10_000_000e18);
    }

    function test_notifyRevenue_dripsLinearlyOverPeriod() public {
        _settleOne(1, address(token), 100e18); // 85 PACA to holders; the creator is the only holder
        assertEq(token.claimable(creator), 0);
        vm.warp(block.timestamp + drip / 2);
        assertApproxEqAbs(token.claimable(creator), 42.5e18, 1e9);
        vm.warp(block.timestamp + drip / 2);
        assertApproxEqAbs(token.claimable(creator), 85e18, 1e9);
        vm.warp(block.timestamp + 30 * drip);
        assertApproxEqAbs(token.claimable(creator), 85e18, 1e9);
        assertLe(token.claimable(creator), 85e18);
    }

    function test_notifyRevenue_topUpCarriesUndrippedRemainder() public {
        _settleOne(1, address(token), 100e18);
        vm.warp(block.timestamp + drip / 2);
        _settleOne(2, address(token), 200e18); // +85 PACA; 42.5 not yet dripped
        vm.warp(block.timestamp + drip);
        assertApproxEqAbs(token.claimable(creator), 170e18, 1e9);
    }

    /// @dev Each settlement restarts the drip with what has not dripped yet. The drip lasts one epoch,
    ///      so an epoch's revenue has reached the holders when the next hourly settlement comes. A drip
    ///      of many epochs (it was 7 days) stretched it again at every settlement: after a week of hourly
    ///      settlements only 1 - 1/e of it had dripped.
    function test_notifyRevenue_hourlySettlementsPayEachEpochWithinTheEpoch() public {
        _settleOne(1, address(token), 100e18); // 85 PACA to holders; the creator is the only holder
        uint256 cumulative = 100e18;
        for (uint64 epoch = 2; epoch <= 169; ++epoch) {
            vm.warp(block.timestamp + 1 hours);
            _settleOne(epoch, address(token), ++cumulative); // later epochs with negligible fees
            if (epoch == 2) assertApproxEqAbs(token.claimable(creator), 85e18, 1e9);
        }
        assertApproxEqAbs(token.claimable(creator), 85e18, 1e9);
    }

    /// @dev Settlements come a little early or late (cron, grace, inclusion). One 10 minutes early
    ///      stretches the last sixth of the drip over the next epoch, so the tail shrinks geometrically.
    function test_notifyRevenue_earlySettlementsStretchOnlyTheRemainder() public {
        _settleOne(1, address(token), 100e18);
        uint256 cumulative = 100e18;
        for (uint64 epoch = 2; epoch <= 4; ++epoch) {
            vm.warp(block.timestamp + 50 minutes);
            _settleOne(epoch, address(token), ++cumulative);
        }
        // after 150 minutes all but (1/6)^3 of the 85 PACA has dripped
        assertGe(token.claimable(creator), 85e18 - uint256(85e18) / 216 - 1e9);
    }

    function test_notifyRevenue_setsDripState() public {
        _settleOne(1, address(token), 100e18);
        (uint256 rate, uint40 last, uint40 finish, uint256 carried) = token.dripState();
        assertEq(rate, uint256(85e18) * 1e18 / 1 hours);
        assertEq(last, block.timestamp);
        assertEq(finish, block.timestamp + 1 hours); // one settlement epoch
        assertEq(carried, 0);
    }

    function test_RevertWhen_notifyRevenueNotVault() public {
        vm.expectRevert(abi.encodeWithSelector(IModelToken.NotRevenueVault.selector, alice));
        vm.prank(alice);
        token.notifyRevenue(1e18);
    }

    function test_claim_paysAccruedAndEmits() public {
        _settleOne(1, address(token), 100e18);
        vm.warp(block.timestamp + drip);
        uint256 expected = token.claimable(creator);
        vm.expectEmit(true, false, false, true, address(token));
        emit IModelToken.Claimed(creator, expected);
        vm.prank(creator);
        assertEq(token.claim(), expected);
        assertEq(paca.balanceOf(creator), expected);
        assertEq(token.claimable(creator), 0);
        vm.prank(creator);
        assertEq(token.claim(), 0);
    }

    function test_transfer_movesOnlyFutureRevenue() public {
        _settleOne(1, address(token), 100e18);
        vm.warp(block.timestamp + drip / 2);
        uint256 half = token.balanceOf(creator) / 2;
        vm.prank(creator);
        token.transfer(alice, half);
        assertEq(token.claimable(alice), 0);
        vm.warp(block.timestamp + drip / 2);
        assertApproxEqAbs(token.claimable(alice), 21.25e18, 1e9);
        assertApproxEqAbs(token.claimable(creator), 63.75e18, 1e9);
    }

    function test_claimable_excludedAddressesNeverAccrue() public {
        _buy(sale, alice, 1_000_000e18);
        vm.prank(alice);
        token.transfer(DEAD, 1_000e18);
        _settleOne(1, address(token), 100e18);
        vm.warp(block.timestamp + drip);
        assertEq(token.claimable(address(sale)), 0);
        assertEq(token.claimable(DEAD), 0);
        assertEq(token.claimable(token.pair()), 0);
        assertTrue(token.isExcluded(address(sale)) && token.isExcluded(DEAD) && token.isExcluded(token.pair()));
        // the accruing holders share all of it
        assertApproxEqAbs(token.claimable(alice) + token.claimable(creator), 85e18, 1e9);
    }

    function test_claimable_pairExcludedAfterGraduation() public {
        _buyOut(sale, alice);
        uint256 pairBalance = token.balanceOf(token.pair());
        assertGt(pairBalance, 0);
        assertEq(token.shareSupply(), token.totalSupply() - pairBalance);
        _settleOne(1, address(token), 100e18);
        vm.warp(block.timestamp + drip);
        assertEq(token.claimable(token.pair()), 0);
        assertApproxEqAbs(token.claimable(alice) + token.claimable(creator), 85e18, 1e9);
    }

    /// @dev Neither the vault nor the token itself can call claim(): tokens sent to them by mistake must
    ///      not take a share of the revenue, or it would stay in the token forever.
    function test_claimable_vaultAndTokenItselfExcluded() public {
        uint256 bought = _buy(sale, alice, 1_000_000e18);
        vm.startPrank(alice);
        token.transfer(address(vault), bought / 4);
        token.transfer(address(token), bought / 4);
        vm.stopPrank();
        assertTrue(token.isExcluded(address(vault)) && token.isExcluded(address(token)));
        assertEq(token.shareSupply(), token.balanceOf(alice) + token.balanceOf(creator));
        _settleOne(1, address(token), 100e18);
        vm.warp(block.timestamp + drip);
        assertEq(token.claimable(address(vault)), 0);
        assertEq(token.claimable(address(token)), 0);
        assertApproxEqAbs(token.claimable(alice) + token.claimable(creator), 85e18, 1e9);
        vm.prank(alice);
        token.claim();
        vm.prank(creator);
        token.claim();
        // nothing is left behind but rounding dust
        assertLe(paca.balanceOf(address(token)), 1e9);
    }

    /// @dev Tokens leaving an excluded address rejoin the share supply and earn only from then on
    ///      (no path of the vault does this; the prank stands for any excluded sender).
    function test_transfer_outOfVaultRejoinsShareSupplyWithoutPastRevenue() public {
        uint256 bought = _buy(sale, alice, 1_000_000e18);
        vm.prank(alice);
        token.transfer(address(vault), bought);
        _settleOne(1, address(token), 100e18);
        vm.warp(block.timestamp + drip);
        uint256 supplyBefore = token.shareSupply();
        vm.prank(address(vault));
        token.transfer(bob, bought);
        assertEq(token.shareSupply(), supplyBefore + bought);
        assertEq(token.claimable(bob), 0);
        assertApproxEqAbs(token.claimable(creator), 85e18, 1e9); // the creator was the only accruing holder
    }

    /// @dev The drip makes "buy just before settlement, sell right after" worth only the time held.
    function test_claim_buyBeforeSettleSellAfterEarnsTimeWeightedShare() public {
        _buy(sale, bob, 500_000e18); // long-term holder
        uint256 bought = _buy(sale, alice, 2_000_000e18);
        uint256 shareSupply = token.shareSupply();
        _settleOne(1, address(token), 1_000_000e18);
        uint256 held = drip / 4;
        vm.warp(block.timestamp + held);
        _sell(sale, alice, bought);
        vm.warp(block.timestamp + drip);

        uint256 holderRevenue = 1_000_000e18 * HOLDER_SHARE_BPS / 10_000;
        uint256 fair = holderRevenue * bought / shareSupply * held / drip;
        uint256 earned = token.claimable(alice);
        assertLe(earned, fair + 1e9);
        assertApproxEqRel(earned, fair, 1e12);
        vm.prank(alice);
        token.claim();
        assertEq(token.claimable(alice), 0);
    }

    function testFuzz_claim_earnsAtMostTimeWeightedShare(uint256 amount, uint256 held, uint256 fees) public {
        amount = bound(amount, 1e18, 4_000_000e18);
        held = bound(held, 1, drip);
        fees = bound(fees, 1e18, 5_000_000e18);
        _buy(sale, bob, 100_000e18);
        uint256 bought = _buy(sale, alice, amount);
        uint256 shareSupply = token.shareSupply();
        _settleOne(1, address(token), fees);
        vm.warp(block.timestamp + held);
        vm.prank(alice);
        token.transfer(bob, bought); // leaves after `held` seconds (selling would do the same)
        vm.warp(block.timestamp + 2 * drip);

        uint256 holderRevenue = fees - fees * PROTOCOL_FEE_BPS / 10_000 - fees * CREATOR_FEE_BPS / 10_000;
        // alice's share of the shares x the share of the drip that elapsed while she held
        uint256 fair = holderRevenue * bought / shareSupply * held / drip;
        assertLe(token.claimable(alice), fair + 1e9);
    }

    function test_notifyRevenue_carriedWhileNobodyAccrues() public {
        IModelFactory.LaunchConfig memory c = factory.launchConfig();
        c.creatorBps = 0;
        vm.prank(admin);
        factory.setLaunchConfig(c);
        (ModelToken t, ModelSale s) = _tokenize("org/no-creator-allocation");
        assertEq(t.shareSupply(), 0);
        _settleOne(1, address(t), 100e18);
        vm.warp(block.timestamp + drip);
        _buy(s, alice, 1_000e18);
        assertEq(t.claimable(alice), 0);
        _settleOne(2, address(t), 200e18);
        vm.warp(block.timestamp + drip);
        // both notifications reach the first real holder
        assertApproxEqAbs(t.claimable(alice), 170e18, 1e9);
    }

    function test_transferFrom_saleNeedsNoAllowanceOthersDo() public {
        uint256 out = _buy(sale, alice, 1_000e18);
        vm.expectRevert(); // ERC20InsufficientAllowance
        vm.prank(bob);
        token.transferFrom(alice, bob, out);
        _sell(sale, alice, out); // sale pulls without approval
        assertEq(token.balanceOf(alice), 0);
    }

    function testFuzz_claim_neverExceedsNotified(uint256 fees, uint256 buy, uint32 wait, uint256 moved) public {
        fees = bound(fees, 1, 5_000_000e18);
        buy = bound(buy, 1e18, 3_000_000e18);
        wait = uint32(bound(wait, 0, 30 days));
        _buy(sale, alice, buy);
        _settleOne(1, address(token), fees);
        vm.warp(block.timestamp + wait);
        moved = bound(moved, 0, token.balanceOf(alice));
        vm.prank(alice);
        token.transfer(bob, moved);
        vm.warp(block.timestamp + drip);
        uint256 total = token.claimable(alice) + token.claimable(bob) + token.claimable(creator);
        assertLe(total, paca.balanceOf(address(token)));
        uint256 before = paca.balanceOf(address(token));
        vm.prank(alice);
        uint256 claimed = token.claim();
        vm.prank(bob);
        claimed += token.claim();
        vm.prank(creator);
        claimed += token.claim();
        assertEq(claimed, total);
        assertEq(paca.balanceOf(address(token)), before - claimed);
    }
}
