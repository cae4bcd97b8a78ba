// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

import {Test} from "forge-std/Test.sol";
import {IUniswapV2Router02} from "@uniswap/v2-periphery/contracts/interfaces/IUniswapV2Router02.sol";
import {LocalPaca} from "../../src/LocalPaca.sol";
import {ModelToken} from "../../src/ModelToken.sol";
import {ModelSale} from "../../src/ModelSale.sol";
import {RevenueVault} from "../../src/RevenueVault.sol";
import {IModelSale} from "../../src/interfaces/IModelSale.sol";

/// @notice Random traffic over one model: curve trades, graduation, pool swaps, transfers,
///         deposits, settlements, withdrawals, claims and time.
contract MarketHandler is Test {
    LocalPaca internal paca;
    ModelToken internal token;
    ModelSale internal sale;
    RevenueVault internal vault;
    IUniswapV2Router02 internal router;
    address internal settler;
    address internal admin;

    address[] public actors;
    uint64 public epoch;
    uint256 public cumulativeFees;
    uint256 public ghostNotified; // PACA the vault sent to the token for holders
    uint256 public ghostClaimed; // PACA holders claimed from the token
    uint256 public ghostWithdrawalNonce;
    uint256 public ghostPoolSwaps; // coverage: swaps after graduation
    uint256 public ghostGraduations;

    constructor(
        LocalPaca paca_,
        ModelToken token_,
        ModelSale sale_,
        RevenueVault vault_,
        IUniswapV2Router02 router_,
        address settler_,
        address admin_,
        address[] memory actors_
    ) {
        paca = paca_;
        token = token_;
        sale = sale_;
        vault = vault_;
        router = router_;
        settler = settler_;
        admin = admin_;
        actors = actors_;
    }

    function actorCount() external view returns (uint256) {
        return actors.length;
    }

    function _actor(uint256 seed) internal view returns (address) {
        return actors[seed % actors.length];
    }

    // ---------------------------------------------------------------- market

    function buy(uint256 seed, uint256 amount) external {
        if (sale.state() != IModelSale.State.Open) return;
        address who = _actor(seed);
        amount = bound(amount, 1e15, 3_000_000e18);
        paca.faucet(who, amount);
        vm.startPrank(who);
        paca.approve(address(sale), amount);
        sale.buy(amount, 0, who, block.timestamp);
        vm.stopPrank();
    }

    /// @dev Sells out the curve: graduation happens in most runs, so pool swaps get exercised.
    function buyOut(uint256 seed) external {
        if (sale.state() != IModelSale.State.Open) return;
        address who = _actor(seed);
        uint256 amount = 8_000_000e18;
        paca.faucet(who, amount);
        vm.startPrank(who);
        paca.approve(address(sale), amount);
        sale.buy(amount, 0, who, block.timestamp);
        vm.stopPrank();
        ++ghostGraduations;
    }

    function sell(uint256 seed, uint256 fraction) external {
        if (sale.state() != IModelSale.State.Open) return;
        address who = _actor(seed);
        uint256 amount = token.balanceOf(who) * bound(fraction, 1, 100) / 100;
        if (amount > sale.tokensSold()) amount = sale.tokensSold();
        if (amount == 0) return;
        (uint256 out,) = sale.quoteSell(amount);
        if (out == 0) return;
        vm.prank(who);
        sale.sell(amount, 0, who, block.timestamp);
    }

    function swapInPool(uint256 seed, uint256 amount, bool pacaForToken) external {
        if (sale.state() != IModelSale.State.Graduated) return;
        address who = _actor(seed);
        address[] memory path = new address[](2);
        if (pacaForToken) {
            amount = bound(amount, 1e15, 100_000e18);
            paca.faucet(who, amount);
            (path[0], path[1]) = (address(paca), address(token));
        } else {
            amount = bound(amount, 0, token.balanceOf(who));
            if (amount < 1e12) return;
            (path[0], path[1]) = (address(token), address(paca));
        }
        vm.startPrank(who);
        paca.approve(address(router), amount);
        token.approve(address(router), amount);
        router.swapExactTokensForTokens(amount, 0, path, who, block.timestamp);
        vm.stopPrank();
        ++ghostPoolSwaps;
    }

    function transfer(uint256 fromSeed, uint256 toSeed, uint256 amount) external {
        address from = _actor(fromSeed);
        address to = _actor(toSeed);
        amount = bound(amount, 0, token.balanceOf(from));
        vm.prank(from);
        token.transfer(to, amount);
    }

    function burnToDead(uint256 seed, uint256 amount) external {
        address from = _actor(seed);
        amount = bound(amount, 0, token.balanceOf(from) / 10);
        vm.prank(from);
        token.transfer(address(0xdEaD), amount);
    }

    /// @dev Tokens sent by mistake to addresses that can never claim: the vault and the token itself.
    function sendToNonClaimer(uint256 seed, uint256 amount, bool toVault) external {
        address from = _actor(seed);
        amount = bound(amount, 0, token.balanceOf(from) / 10);
        vm.prank(from);
        token.transfer(toVault ? address(vault) : address(token), amount);
    }

    // ---------------------------------------------------------------- revenue

    function deposit(uint256 seed, uint256 amount) external {
        address who = _actor(seed);
        amount = bound(amount, 1, 1_000_000e18);
        paca.faucet(who, amount);
        vm.startPrank(who);
        paca.approve(address(vault), amount);
        vault.deposit(who, amount);
        vm.stopPrank();
    }

    function settle(uint256 fees) external {
        uint256 available = vault.escrowBalance();
        fees = bound(fees, 0, available);
        uint256 before = paca.balanceOf(address(token));
        cumulativeFees += fees;
        address[] memory models = new address[](1);
        uint256[] memory cumulative = new uint256[](1);
        models[0] = address(token);
        cumulative[0] = cumulativeFees;
        ++epoch;
        vm.prank(settler);
        vault.settle(epoch, models, cumulative, keccak256(abi.encode(epoch)));
        ghostNotified += paca.balanceOf(address(token)) - before;
    }

    function payWithdrawal(uint256 seed, uint256 amount) external {
        amount = bound(amount, 0, vault.escrowBalance());
        if (amount == 0) return;
        vm.prank(settler);
        vault.payWithdrawal(_actor(seed), amount, bytes32(++ghostWithdrawalNonce));
    }

    function claim(uint256 seed) external {
        vm.prank(_actor(seed));
        ghostClaimed += token.claim();
    }

    function claimFees() external {
        vault.claimCreatorFees(address(token));
        vm.prank(admin);
        vault.claimProtocolFees(admin);
    }

    function warp(uint256 secondsForward) external {
        vm.warp(block.timestamp + bound(secondsForward, 1, 3 days));
    }
}
