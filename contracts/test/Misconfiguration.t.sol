// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

import {Clones} from "@openzeppelin/contracts/proxy/Clones.sol";
import {IUniswapV2Factory} from "@uniswap/v2-core/contracts/interfaces/IUniswapV2Factory.sol";
import {IUniswapV2Pair} from "@uniswap/v2-core/contracts/interfaces/IUniswapV2Pair.sol";
import {ModeldexTest} from "./utils/ModeldexTest.sol";
import {LocalPaca} from "../src/LocalPaca.sol";
import {ModelFactory} from "../src/ModelFactory.sol";
import {ModelToken} from "../src/ModelToken.sol";
import {ModelSale} from "../src/ModelSale.sol";
import {IModelFactory} from "../src/interfaces/IModelFactory.sol";
import {IModelToken} from "../src/interfaces/IModelToken.sol";
import {IModelSale} from "../src/interfaces/IModelSale.sol";

/// @notice Revert paths that only a wrong deployment or direct (non-factory) use can reach.
contract MisconfigurationTest is ModeldexTest {
    function test_RevertWhen_factoryConstructedWithZeroAddress() public {
        vm.expectRevert(IModelFactory.ZeroAddress.selector);
        ModelFactory.Deployment memory d = _deployment();
        d.paca = address(0);
        new ModelFactory(d);
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

    /// @dev With the wrong pair init code hash the token would guard an address Uniswap never deploys
    ///      to, and every graduation would revert PairMismatch with the raise locked in the sale (it is
    ///      Closed: no buy, no sell, and the hash is immutable). Such a factory cannot be deployed.
    function test_RevertWhen_factoryConstructedWithWrongPairInitCodeHash() public {
        bytes32 wrongHash = keccak256("not the pair");
        address probe = uniswapFactory.getPair(address(1), address(2)); // made by the factory in setUp
        address derived = address(
            uint160(
                uint256(
                    keccak256(
                        abi.encodePacked(
                            hex"ff", address(uniswapFactory), keccak256(abi.encodePacked(address(1), address(2))), wrongHash
                        )
                    )
                )
            )
        );
        vm.expectRevert(
            abi.encodeWithSelector(IModelFactory.PairInitCodeHashMismatch.selector, wrongHash, probe, derived)
        );
        ModelFactory.Deployment memory d = _deployment();
        d.pairInitCodeHash = wrongHash;
        new ModelFactory(d);
    }

    /// @dev On a fresh Uniswap factory the check creates its probe pair; on one that has it (a second
    ///      deployment, or a public factory where someone created it) it only reads it.
    function test_constructor_checksPairInitCodeHashAgainstProbePair() public {
        address probe = uniswapFactory.getPair(address(1), address(2));
        assertTrue(probe != address(0));
        uint256 pairs = uniswapFactory.allPairsLength();
        new ModelFactory(_deployment());
        assertEq(uniswapFactory.allPairsLength(), pairs);
        assertEq(uniswapFactory.getPair(address(1), address(2)), probe);
    }

    /// @dev The sale still checks the pair it graduates into (defence in depth): with a pair address
    ///      the token does not guard, graduation fails loudly rather than seeding an unguarded pool.
    function test_RevertWhen_graduatingIntoPairTheTokenDoesNotGuard() public {
        (ModelToken token, ModelSale sale) = _tokenize("org/model");
        address other = makeAddr("not the guarded pair");
        vm.mockCall(
            address(uniswapFactory),
            abi.encodeWithSelector(IUniswapV2Factory.getPair.selector, address(token), address(paca)),
            abi.encode(other)
        );
        _buyOut(sale, alice); // the buy itself succeeds, graduation fails and is reported
        assertEq(uint8(sale.state()), uint8(IModelSale.State.Closed));
        vm.expectRevert(abi.encodeWithSelector(IModelSale.PairMismatch.selector, token.pair(), other));
        sale.graduate();
        vm.clearMockedCalls();
        sale.graduate();
        assertEq(uint8(sale.state()), uint8(IModelSale.State.Graduated));
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
