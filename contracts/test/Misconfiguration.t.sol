// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

import {Clones} from "@openzeppelin/contracts/proxy/Clones.sol";
import {IUniswapV2Pair} from "@uniswap/v2-core/contracts/interfaces/IUniswapV2Pair.sol";
import {ModeldexTest} from "./utils/ModeldexTest.sol";
import {LocalPaca} from "../src/LocalPaca.sol";
import {ModelFactory} from "../src/ModelFactory.sol";
import {ModelToken} from "../src/ModelToken.sol";
import {ModelSale} from "../src/ModelSale.sol";
import {IModelFactory} from "../src/interfaces/IModelFactory.sol";
import {IModelToken} from "../src/interfaces/IModelToken.sol";
import {IModelSale} from "../src/interfaces/IModelSale.sol";
import {IRevenueVault} from "../src/interfaces/IRevenueVault.sol";

/// @notice Revert paths that only a wrong deployment or direct (non-factory) use can reach.
contract MisconfigurationTest is ModeldexTest {
    function test_RevertWhen_factoryConstructedWithZeroAddress() public {
        vm.expectRevert(IModelFactory.ZeroAddress.selector);
        new ModelFactory(
            ModelFactory.Deployment({
                paca: address(0),
                uniswapFactory: address(uniswapFactory),
                pairInitCodeHash: pairInitCodeHash,
                vault: IRevenueVault(address(vault)),
                treasury: treasury,
                admin: admin
            })
        );
    }

    function test_RevertWhen_tokenInitializedWithBadAllocation() public {
        ModelToken clone = ModelToken(Clones.clone(factory.tokenImplementation()));
        vm.expectRevert(IModelToken.InvalidInit.selector);
        clone.initialize(
            IModelToken.TokenInit({
                name: "x",
                symbol: "x",
                creator: creator,
                sale: address(1),
                pair: address(2),
                totalSupply: 1e24,
                creatorAllocation: 1e24 + 1,
                dripPeriod: 1 days
            })
        );
    }

    function test_RevertWhen_saleInitializedWithCurveNotLargerThanPool() public {
        ModelSale clone = ModelSale(Clones.clone(factory.saleImplementation()));
        vm.expectRevert(IModelSale.InvalidSaleParams.selector);
        clone.initialize(
            IModelSale.SaleInit({
                token: address(1),
                creator: creator,
                curveSupply: 100e18,
                liquidityReserve: 100e18,
                graduationThreshold: 1e18,
                tradeFeeBps: 100,
                protocolFeeShareBps: 5_000
            })
        );
    }

    function test_RevertWhen_faucetAboveLimit() public {
        uint256 limit = paca.FAUCET_LIMIT();
        vm.expectRevert(abi.encodeWithSelector(LocalPaca.FaucetLimitExceeded.selector, limit + 1, limit));
        paca.faucet(alice, limit + 1);
    }

    /// @dev A factory configured with the wrong pair init code hash guards the wrong address:
    ///      graduation must fail loudly (and be retryable once fixed), never seed an unguarded pool.
    function test_RevertWhen_graduatingWithWrongPairInitCodeHash() public {
        ModelFactory wrong = new ModelFactory(
            ModelFactory.Deployment({
                paca: address(paca),
                uniswapFactory: address(uniswapFactory),
                pairInitCodeHash: keccak256("not the pair"),
                vault: IRevenueVault(address(vault)),
                treasury: treasury,
                admin: admin
            })
        );
        vm.startPrank(admin);
        vault.grantRole(vault.REGISTRAR_ROLE(), address(wrong));
        vm.stopPrank();
        (address t, address s) = wrong.tokenize(_params("org/model"));
        ModelSale sale = ModelSale(s);

        _buyOut(sale, alice); // the buy itself succeeds, graduation fails and is reported
        assertEq(uint8(sale.state()), uint8(IModelSale.State.Closed));
        address actual = factory.pairFor(t); // where Uniswap really puts it (correct hash)
        vm.expectRevert(abi.encodeWithSelector(IModelSale.PairMismatch.selector, ModelToken(t).pair(), actual));
        sale.graduate();
    }

    function test_RevertWhen_pairAlreadyHasLiquidity() public {
        (ModelToken token, ModelSale sale) = _tokenize("org/model");
        address pair = uniswapFactory.createPair(address(token), address(paca));
        // unreachable without cheats: the token refuses transfers to the pair before launch
        vm.mockCall(pair, abi.encodeWithSelector(IUniswapV2Pair.totalSupply.selector), abi.encode(uint256(1)));
        _buyOut(sale, alice);
        assertEq(uint8(sale.state()), uint8(IModelSale.State.Closed));
        vm.expectRevert(abi.encodeWithSelector(IModelSale.PairAlreadyHasLiquidity.selector, pair));
        sale.graduate();
        vm.clearMockedCalls();
        sale.graduate();
        assertEq(uint8(sale.state()), uint8(IModelSale.State.Graduated));
    }

    function test_implementations_holdTheirImmutables() public view {
        ModelToken tokenImpl = ModelToken(factory.tokenImplementation());
        ModelSale saleImpl = ModelSale(factory.saleImplementation());
        assertEq(address(tokenImpl.paca()), address(paca));
        assertEq(tokenImpl.vault(), address(vault));
        assertEq(address(saleImpl.paca()), address(paca));
        assertEq(saleImpl.factory(), address(factory));
        assertEq(address(saleImpl.uniswapFactory()), address(uniswapFactory));
    }
}
