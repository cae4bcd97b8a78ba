// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

import {ModeldexTest} from "../utils/ModeldexTest.sol";
import {ModelToken} from "../../src/ModelToken.sol";
import {ModelSale} from "../../src/ModelSale.sol";
import {IModelSale} from "../../src/interfaces/IModelSale.sol";
import {MarketHandler} from "./MarketHandler.sol";

contract MarketInvariantTest is ModeldexTest {
    MarketHandler internal handler;
    ModelToken internal token;
    ModelSale internal sale;
    address[] internal actors;

    function setUp() public override {
        super.setUp();
        (token, sale) = _tokenize("org/model");
        actors.push(alice);
        actors.push(bob);
        actors.push(creator);
        actors.push(makeAddr("carol"));
        handler = new MarketHandler(paca, token, sale, vault, router, settler, admin, actors);
        targetContract(address(handler));
    }

    /// @dev Every PACA ever minted sits with a known party: nothing leaks, nothing is created.
    function invariant_pacaConserved() public view {
        address[] memory holders = new address[](actors.length + 7);
        for (uint256 i; i < actors.length; ++i) {
            holders[i] = actors[i];
        }
        holders[actors.length] = address(vault);
        holders[actors.length + 1] = address(token);
        holders[actors.length + 2] = address(sale);
        holders[actors.length + 3] = token.pair();
        holders[actors.length + 4] = treasury;
        holders[actors.length + 5] = admin;
        holders[actors.length + 6] = address(handler);
        uint256 sum;
        for (uint256 i; i < holders.length; ++i) {
            sum += paca.balanceOf(holders[i]);
        }
        assertEq(sum, paca.totalSupply());
    }

    /// @dev The vault holds exactly escrow + owed fees; it never paid out more than was deposited.
    function invariant_vaultBacksEscrowAndOwedFees() public view {
        assertLe(uint256(vault.totalSettled()) + vault.totalWithdrawn(), vault.totalDeposited());
        assertEq(
            paca.balanceOf(address(vault)),
            vault.escrowBalance() + vault.protocolFeesOwed() + vault.creatorFeesOwed(address(token))
        );
    }

    /// @dev Holders can never claim more than was notified; the token can always pay every claim.
    function invariant_claimedNeverExceedsNotified() public view {
        assertLe(handler.ghostClaimed(), handler.ghostNotified());
        assertEq(paca.balanceOf(address(token)), handler.ghostNotified() - handler.ghostClaimed());
        uint256 owed;
        for (uint256 i; i < actors.length; ++i) {
            owed += token.claimable(actors[i]);
        }
        assertLe(owed, paca.balanceOf(address(token)));
    }

    /// @dev The sale, the pair, the dead address, the vault and the token itself never accrue and are
    ///      outside the share supply.
    function invariant_excludedNeverAccrue() public view {
        assertEq(token.claimable(address(sale)), 0);
        assertEq(token.claimable(token.pair()), 0);
        assertEq(token.claimable(DEAD), 0);
        assertEq(token.claimable(address(vault)), 0);
        assertEq(token.claimable(address(token)), 0);
        uint256 excluded = token.balanceOf(address(sale)) + token.balanceOf(token.pair()) + token.balanceOf(DEAD)
            + token.balanceOf(address(vault)) + token.balanceOf(address(token));
        assertEq(token.shareSupply(), token.totalSupply() - excluded);
    }

    /// @dev The curve never prices below its invariant and its PACA matches internal accounting.
    function invariant_curveReservesBacked() public view {
        (uint256 vp, uint256 vt) = sale.virtualReserves();
        (uint256 x0, uint256 y0) = sale.initialVirtualReserves();
        assertGe(vp * vt, x0 * y0);
        if (sale.state() == IModelSale.State.Open) {
            assertEq(paca.balanceOf(address(sale)), sale.realPacaReserve());
        }
    }
}
