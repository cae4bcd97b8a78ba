// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

import {IUniswapV2Pair} from "@uniswap/v2-core/contracts/interfaces/IUniswapV2Pair.sol";
import {IUniswapV2Factory} from "@uniswap/v2-core/contracts/interfaces/IUniswapV2Factory.sol";
import {ModeldexTest} from "./utils/ModeldexTest.sol";
import {ModelToken} from "../src/ModelToken.sol";
import {ModelSale} from "../src/ModelSale.sol";
import {IModelSale} from "../src/interfaces/IModelSale.sol";
import {IModelToken} from "../src/interfaces/IModelToken.sol";
import {IModelFactory} from "../src/interfaces/IModelFactory.sol";

contract ModelSaleTest is ModeldexTest {
    ModelToken internal token;
    ModelSale internal sale;
    address internal attacker = makeAddr("attacker");

    function setUp() public override {
        super.setUp();
        (token, sale) = _tokenize("org/model");
    }

    // ---------------------------------------------------------------- buy / sell

    function test_buy_transfersTokensAndSplitsFee() public {
        (uint256 quotedOut, uint256 quotedPaid, uint256 quotedFee) = sale.quoteBuy(1_000e18);
        uint256 out = _buy(sale, alice, 1_000e18);
        assertEq(out, quotedOut);
        assertEq(quotedPaid, 1_000e18);
        assertEq(quotedFee, 10e18); // 1 %
        assertEq(token.balanceOf(alice), out);
        assertEq(paca.balanceOf(treasury), 5e18);
        assertEq(paca.balanceOf(creator), 5e18);
        assertEq(paca.balanceOf(address(sale)), 990e18);
        assertEq(sale.realPacaReserve(), 990e18);
        assertEq(sale.tokensSold(), out);
    }

    function test_buy_emitsTrade() public {
        (uint256 out,, uint256 fee) = sale.quoteBuy(1_000e18);
        _fund(alice, 1_000e18);
        vm.startPrank(alice);
        paca.approve(address(sale), 1_000e18);
        (uint256 x0, uint256 y0) = sale.initialVirtualReserves();
        vm.expectEmit(true, true, true, true, address(sale));
        emit IModelSale.Trade(alice, bob, true, 1_000e18, out, fee, x0 + 990e18, y0 - out);
        sale.buy(1_000e18, out, bob, block.timestamp);
        vm.stopPrank();
    }

    function test_sell_paysPacaLessFee() public {
        uint256 out = _buy(sale, alice, 10_000e18);
        (uint256 quotedPaca, uint256 quotedFee) = sale.quoteSell(out / 2);
        uint256 before = paca.balanceOf(alice);
        uint256 received = _sell(sale, alice, out / 2);
        assertEq(received, quotedPaca);
        assertEq(paca.balanceOf(alice) - before, received);
        assertGt(quotedFee, 0);
        assertEq(paca.balanceOf(address(sale)), sale.realPacaReserve());
    }

    function test_sell_allBackRestoresInitialReserves() public {
        uint256 out = _buy(sale, alice, 50_000e18);
        _sell(sale, alice, out);
        (uint256 vp, uint256 vt) = sale.virtualReserves();
        (uint256 x0, uint256 y0) = sale.initialVirtualReserves();
        assertEq(vp, x0);
        assertEq(vt, y0);
        assertEq(sale.realPacaReserve(), 0);
        assertEq(paca.balanceOf(address(sale)), 0);
    }

    function test_spotPrice_startsAndEndsAsDesigned() public view {
        (uint256 x0, uint256 y0) = sale.initialVirtualReserves();
        // x0 = L R / (S - L), y0 = S + x0 S / R for the Modelz defaults
        assertEq(x0, uint256(125_000_000e18) * 6_280_000e18 / 718_600_000e18);
        assertApproxEqRel(sale.spotPrice(), x0 * 1e18 / y0, 1e12);
    }

    function test_RevertWhen_buyAfterDeadline() public {
        vm.expectRevert(abi.encodeWithSelector(IModelSale.DeadlineExpired.selector, block.timestamp - 1));
        sale.buy(1e18, 0, alice, block.timestamp - 1);
    }

    function test_RevertWhen_buyZeroAmount() public {
        vm.expectRevert(IModelSale.ZeroAmount.selector);
        sale.buy(0, 0, alice, block.timestamp);
    }

    function test_RevertWhen_buyTooSmallForOneTokenUnit() public {
        vm.expectRevert(IModelSale.ZeroAmount.selector);
        sale.buy(1, 0, alice, block.timestamp); // the whole wei goes to the rounded-up fee
    }

    function test_RevertWhen_buySlippageExceeded() public {
        (uint256 out,,) = sale.quoteBuy(1_000e18);
        _fund(alice, 1_000e18);
        vm.startPrank(alice);
        paca.approve(address(sale), 1_000e18);
        vm.expectRevert(abi.encodeWithSelector(IModelSale.SlippageExceeded.selector, out, out + 1));
        sale.buy(1_000e18, out + 1, alice, block.timestamp);
        vm.stopPrank();
    }

    function test_RevertWhen_sellAfterDeadline() public {
        uint256 out = _buy(sale, alice, 1_000e18);
        vm.expectRevert(abi.encodeWithSelector(IModelSale.DeadlineExpired.selector, block.timestamp - 1));
        vm.prank(alice);
        sale.sell(out, 0, alice, block.timestamp - 1);
    }

    function test_RevertWhen_sellZeroAmount() public {
        vm.expectRevert(IModelSale.ZeroAmount.selector);
        sale.sell(0, 0, alice, block.timestamp);
    }

    function test_RevertWhen_sellSlippageExceeded() public {
        uint256 out = _buy(sale, alice, 1_000e18);
        (uint256 pacaOut,) = sale.quoteSell(out);
        vm.expectRevert(abi.encodeWithSelector(IModelSale.SlippageExceeded.selector, pacaOut, pacaOut + 1));
        vm.prank(alice);
        sale.sell(out, pacaOut + 1, alice, block.timestamp);
    }

    function test_RevertWhen_sellMoreThanCurveSold() public {
        // The creator allocation was never bought on the curve: it cannot drain buyers' PACA.
        uint256 sold = _buy(sale, alice, 1_000e18);
        vm.expectRevert(abi.encodeWithSelector(IModelSale.InsufficientCurveLiquidity.selector, sold + 1, sold));
        vm.prank(creator);
        sale.sell(sold + 1, 0, creator, block.timestamp);
    }

    function test_RevertWhen_sellWithoutBalance() public {
        _buy(sale, alice, 1_000e18);
        vm.expectRevert(); // ERC20InsufficientBalance
        vm.prank(bob);
        sale.sell(1e18, 0, bob, block.timestamp);
    }

    function test_RevertWhen_buyAfterGraduation() public {
        _buyOut(sale, alice);
        vm.expectRevert(abi.encodeWithSelector(IModelSale.SaleNotOpen.selector, IModelSale.State.Graduated));
        sale.buy(1e18, 0, alice, block.timestamp);
    }

    function test_RevertWhen_sellAfterGraduation() public {
        _buyOut(sale, alice);
        vm.expectRevert(abi.encodeWithSelector(IModelSale.SaleNotOpen.selector, IModelSale.State.Graduated));
        vm.prank(alice);
        sale.sell(1e18, 0, alice, block.timestamp);
    }

    function test_RevertWhen_graduateWhileOpen() public {
        vm.expectRevert(abi.encodeWithSelector(IModelSale.NotGraduationPending.selector, IModelSale.State.Open));
        sale.graduate();
    }

    function test_RevertWhen_graduateTwice() public {
        _buyOut(sale, alice);
        vm.expectRevert(abi.encodeWithSelector(IModelSale.NotGraduationPending.selector, IModelSale.State.Graduated));
        sale.graduate();
    }

    function test_RevertWhen_completeGraduationNotSelf() public {
        vm.expectRevert(IModelSale.OnlySelf.selector);
        sale.completeGraduation();
    }

    function test_RevertWhen_launchNotSale() public {
        vm.expectRevert(abi.encodeWithSelector(IModelToken.NotSale.selector, alice));
        vm.prank(alice);
        token.launch();
    }

    function test_RevertWhen_transferToPairBeforeGraduation() public {
        _buy(sale, alice, 1_000e18);
        address pair = token.pair();
        vm.expectRevert(IModelToken.TransferToPairBeforeLaunch.selector);
        vm.prank(alice);
        token.transfer(pair, 1e18);

        vm.prank(alice);
        token.approve(bob, 1e18);
        vm.expectRevert(IModelToken.TransferToPairBeforeLaunch.selector);
        vm.prank(bob);
        token.transferFrom(alice, pair, 1e18);
    }

    // ---------------------------------------------------------------- graduation

    function test_buy_sellsOutCapsAndGraduates() public {
        uint256 before = 8_000_000e18;
        uint256 out = _buyOut(sale, alice);
        assertEq(out, sale.curveSupply());
        assertEq(uint8(sale.state()), uint8(IModelSale.State.Graduated));
        // only the PACA needed was pulled; the excess stays with the buyer
        uint256 paid = before - paca.balanceOf(alice);
        assertApproxEqRel(paid, uint256(6_280_000e18) * 10_000 / 9_900, 1e12);

        (uint256 tokenReserve, uint256 pacaReserve) = _pairReserves(token);
        assertEq(tokenReserve, sale.liquidityReserve());
        _assertPoolPriceMatchesCurve(tokenReserve, pacaReserve);
        assertApproxEqRel(pacaReserve, 6_280_000e18, 1e12);

        IUniswapV2Pair pair = IUniswapV2Pair(token.pair());
        assertEq(pair.balanceOf(DEAD), pair.totalSupply() - 1_000);
        assertEq(token.balanceOf(address(sale)), 0);
        assertLe(paca.balanceOf(address(sale)), 0);
        assertTrue(token.launched());
    }

    function test_buy_graduationEmitsGraduated() public {
        _fund(alice, 8_000_000e18);
        vm.startPrank(alice);
        paca.approve(address(sale), 8_000_000e18);
        vm.expectEmit(true, false, false, false, address(sale));
        emit IModelSale.Graduated(token.pair(), 0, 0, 0, 0);
        sale.buy(8_000_000e18, 0, alice, block.timestamp);
        vm.stopPrank();
    }

    function test_graduate_poolTradesThroughRouterAfterwards() public {
        _buyOut(sale, alice);
        _fund(bob, 1_000e18);
        address[] memory path = new address[](2);
        path[0] = address(paca);
        path[1] = address(token);
        vm.startPrank(bob);
        paca.approve(address(router), 1_000e18);
        uint256[] memory amounts = router.swapExactTokensForTokens(1_000e18, 1, path, bob, block.timestamp);
        vm.stopPrank();
        assertEq(token.balanceOf(bob), amounts[1]);
        // and holders may now add liquidity / transfer to the pair
        address pair = token.pair();
        vm.prank(alice);
        token.transfer(pair, 1e18);
    }

    function test_graduate_reusesPreCreatedPairWithSyncedDonation() public {
        uint256 attackerStart = 1_000_000e18;
        _fund(attacker, attackerStart);

        // Baseline: the attacker only trades (buy early, sell into the pool after graduation).
        uint256 snapshot = vm.snapshotState();
        uint256 baseline = _attackerTrades(false, 0);
        vm.revertToState(snapshot);

        // Attack: pre-create the pair, donate PACA and sync, try to donate tokens too.
        uint256 donation = 100_000e18;
        uint256 attacked = _attackerTrades(true, donation);

        assertEq(uint8(sale.state()), uint8(IModelSale.State.Graduated));
        assertLe(attacked + donation, baseline + 1e15, "attacker gained from the attack");
        assertLe(attacked, attackerStart + (baseline - attackerStart));
    }

    function test_graduate_unsyncedDonationSkimmedToTreasury() public {
        address pair = uniswapFactory.createPair(address(token), address(paca));
        _fund(attacker, 50_000e18);
        vm.prank(attacker);
        paca.transfer(pair, 50_000e18);
        uint256 treasuryBefore = paca.balanceOf(treasury);
        _buyOut(sale, alice);
        (uint256 tokenReserve, uint256 pacaReserve) = _pairReserves(token);
        _assertPoolPriceMatchesCurve(tokenReserve, pacaReserve);
        // treasury got the skimmed donation plus its share of trade fees
        assertGe(paca.balanceOf(treasury) - treasuryBefore, 50_000e18);
    }

    function test_graduate_hugeSyncedDonationCannotBlock() public {
        address pair = uniswapFactory.createPair(address(token), address(paca));
        _fund(attacker, 7_000_000e18);
        vm.startPrank(attacker);
        paca.transfer(pair, 7_000_000e18);
        IUniswapV2Pair(pair).sync();
        vm.stopPrank();
        _buyOut(sale, alice);
        assertEq(uint8(sale.state()), uint8(IModelSale.State.Graduated));
        // the whole raise goes to the treasury: the attacker's gift is the pool's PACA
        assertGt(IUniswapV2Pair(pair).totalSupply(), 0);
    }

    function test_graduate_retryAfterFailedGraduation() public {
        vm.mockCallRevert(
            address(uniswapFactory),
            abi.encodeWithSelector(IUniswapV2Factory.createPair.selector),
            abi.encodeWithSignature("Error(string)", "boom")
        );
        _fund(alice, 8_000_000e18);
        vm.startPrank(alice);
        paca.approve(address(sale), 8_000_000e18);
        vm.expectEmit(false, false, false, true, address(sale));
        emit IModelSale.GraduationFailed(abi.encodeWithSignature("Error(string)", "boom"));
        sale.buy(8_000_000e18, 0, alice, block.timestamp);
        vm.stopPrank();

        assertEq(uint8(sale.state()), uint8(IModelSale.State.Closed));
        assertEq(token.balanceOf(alice), sale.curveSupply());
        assertFalse(token.launched());
        vm.expectRevert(abi.encodeWithSelector(IModelSale.SaleNotOpen.selector, IModelSale.State.Closed));
        sale.buy(1e18, 0, alice, block.timestamp);

        vm.clearMockedCalls();
        vm.prank(bob);
        sale.graduate();
        assertEq(uint8(sale.state()), uint8(IModelSale.State.Graduated));
        (uint256 tokenReserve, uint256 pacaReserve) = _pairReserves(token);
        _assertPoolPriceMatchesCurve(tokenReserve, pacaReserve);
    }

    function test_RevertWhen_closingBuyHasTooLittleGasToGraduate() public {
        _fund(alice, 8_000_000e18);
        vm.startPrank(alice);
        paca.approve(address(sale), 8_000_000e18);
        // enough for the buy itself, not for creating the pair
        vm.expectRevert(IModelSale.GraduationOutOfGas.selector);
        sale.buy{gas: 700_000}(8_000_000e18, 0, alice, block.timestamp);
        // the floor is enough: graduation completes inside the buy
        sale.buy{gas: 3_600_000}(8_000_000e18, 0, alice, block.timestamp);
        vm.stopPrank();
        assertEq(uint8(sale.state()), uint8(IModelSale.State.Graduated));
    }

    function test_buy_graduationFloorSufficesWithPreCreatedPair() public {
        uniswapFactory.createPair(address(token), address(paca));
        _fund(alice, 8_000_000e18);
        vm.startPrank(alice);
        paca.approve(address(sale), 8_000_000e18);
        vm.expectRevert(IModelSale.GraduationOutOfGas.selector);
        sale.buy{gas: 600_000}(8_000_000e18, 0, alice, block.timestamp);
        sale.buy{gas: 900_000}(8_000_000e18, 0, alice, block.timestamp);
        vm.stopPrank();
        assertEq(uint8(sale.state()), uint8(IModelSale.State.Graduated));
    }

    // ---------------------------------------------------------------- fuzz

    function testFuzz_buyThenSell_neverProfits(uint256 pacaIn, uint256 priorBuy) public {
        pacaIn = bound(pacaIn, 1e6, 6_000_000e18);
        priorBuy = bound(priorBuy, 0, 3_000_000e18);
        if (priorBuy >= 1e6) _buy(sale, bob, priorBuy);
        if (sale.state() != IModelSale.State.Open) return;
        (uint256 quoted,,) = sale.quoteBuy(pacaIn);
        vm.assume(quoted > 0);
        uint256 out = _buy(sale, alice, pacaIn);
        if (sale.state() != IModelSale.State.Open) return;
        (uint256 quotedBack,) = sale.quoteSell(out);
        if (quotedBack == 0) return; // dust: the seller gets nothing back, trivially no profit
        uint256 back = _sell(sale, alice, out);
        assertLe(back, pacaIn);
    }

    function testFuzz_buy_priceMonotonic(uint256 a, uint256 b) public {
        a = bound(a, 1e12, 3_000_000e18);
        b = bound(b, 1e12, 3_000_000e18);
        uint256 p0 = sale.spotPrice();
        _buy(sale, alice, a);
        uint256 p1 = sale.spotPrice();
        assertGe(p1, p0);
        _buy(sale, bob, b);
        uint256 p2 = sale.spotPrice();
        assertGe(p2, p1);
        uint256 held = token.balanceOf(bob);
        _sell(sale, bob, held);
        assertLe(sale.spotPrice(), p2);
    }

    /// @dev Splitting a buy never beats buying at once, and reserves never fall below the invariant.
    function testFuzz_buy_roundsInProtocolFavour(uint256 amount, uint256 split) public {
        amount = bound(amount, 2e6, 5_000_000e18);
        split = bound(split, 1e6, amount - 1e6);
        uint256 snapshot = vm.snapshotState();
        uint256 whole = _buy(sale, alice, amount);
        vm.revertToState(snapshot);
        uint256 first = _buy(sale, alice, split);
        uint256 second = _buy(sale, alice, amount - split);
        assertLe(first + second, whole);

        (uint256 vp, uint256 vt) = sale.virtualReserves();
        (uint256 x0, uint256 y0) = sale.initialVirtualReserves();
        assertGe(vp * vt, x0 * y0);
        assertEq(paca.balanceOf(address(sale)), sale.realPacaReserve());
    }

    function testFuzz_graduation_poolPriceWithinBound(
        uint256 threshold,
        uint16 liquidityBps,
        uint16 creatorBps,
        uint256 totalSupply
    ) public {
        IModelFactory.LaunchConfig memory c = factory.launchConfig();
        c.totalSupply = bound(totalSupply, 1e24, 1e28);
        c.graduationThreshold = bound(threshold, 1_000e18, 9_000_000e18);
        c.liquidityBps = uint16(bound(liquidityBps, 500, 3_000));
        c.creatorBps = uint16(bound(creatorBps, 0, 1_000));
        vm.prank(admin);
        factory.setLaunchConfig(c);
        (ModelToken t, ModelSale s) = _tokenize("org/fuzz");
        _buy(s, alice, c.graduationThreshold * 2);
        assertEq(uint8(s.state()), uint8(IModelSale.State.Graduated));
        (uint256 tokenReserve, uint256 pacaReserve) = _pairReservesOf(t);
        (uint256 vp, uint256 vt) = s.virtualReserves();
        assertApproxEqRel(pacaReserve * 1e18 / tokenReserve, vp * 1e18 / vt, 1e15);
    }

    // ---------------------------------------------------------------- helpers

    function _attackerTrades(bool attack, uint256 donation) internal returns (uint256 attackerPacaEnd) {
        address pair;
        if (attack) {
            vm.startPrank(attacker);
            pair = uniswapFactory.createPair(address(token), address(paca));
            vm.stopPrank();
        }
        vm.startPrank(attacker);
        paca.approve(address(sale), type(uint256).max);
        (uint256 bought,) = sale.buy(500_000e18, 0, attacker, block.timestamp);
        if (attack) {
            paca.transfer(pair, donation);
            IUniswapV2Pair(pair).sync();
            vm.expectRevert(IModelToken.TransferToPairBeforeLaunch.selector);
            token.transfer(pair, bought / 10);
        }
        vm.stopPrank();

        _buyOut(sale, alice);
        (uint256 tokenReserve, uint256 pacaReserve) = _pairReserves(token);
        _assertPoolPriceMatchesCurve(tokenReserve, pacaReserve);

        address[] memory path = new address[](2);
        path[0] = address(token);
        path[1] = address(paca);
        vm.startPrank(attacker);
        token.approve(address(router), bought);
        router.swapExactTokensForTokens(bought, 0, path, attacker, block.timestamp);
        if (attack) {
            // nothing for the attacker to skim back out of the pool
            IUniswapV2Pair(pair).skim(attacker);
        }
        vm.stopPrank();
        return paca.balanceOf(attacker);
    }

    function _pairReservesOf(ModelToken t) internal view returns (uint256, uint256) {
        return _pairReserves(t);
    }

    function _assertPoolPriceMatchesCurve(uint256 tokenReserve, uint256 pacaReserve) internal view {
        (uint256 vp, uint256 vt) = sale.virtualReserves();
        // pool price within 0.1 % of the curve's final price
        assertApproxEqRel(pacaReserve * 1e18 / tokenReserve, vp * 1e18 / vt, 1e15);
    }
}
