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
    ///      Here the Uniswap factory's first pair is the probe pair, made by the factory in setUp.
    function test_RevertWhen_factoryConstructedWithWrongPairInitCodeHash() public {
        bytes32 wrongHash = keccak256("not the pair");
        address probe = uniswapFactory.getPair(address(1), address(2));
        assertEq(uniswapFactory.allPairs(0), probe);
        vm.expectRevert(
            abi.encodeWithSelector(
                IModelFactory.PairInitCodeHashMismatch.selector,
                wrongHash,
                probe,
                _derivedPair(uniswapFactory, wrongHash, address(1), address(2))
            )
        );
        ModelFactory.Deployment memory d = _deployment();
        d.pairInitCodeHash = wrongHash;
        new ModelFactory(d);
    }

    /// @dev A shared Uniswap factory that already has pairs: the check reads its first pair and
    ///      leaves no pair of its own.
    function test_constructor_checksPairInitCodeHashAgainstFirstPair() public {
        IUniswapV2Factory shared = _freshUniswapFactory();
        address first = shared.createPair(makeAddr("tokenA"), makeAddr("tokenB"));
        shared.createPair(makeAddr("tokenA"), makeAddr("tokenC"));
        ModelFactory.Deployment memory d = _deployment();
        d.uniswapFactory = address(shared);
        ModelFactory built = new ModelFactory(d);
        assertEq(shared.allPairsLength(), 2);
        assertEq(shared.allPairs(0), first);
        assertEq(shared.getPair(address(1), address(2)), address(0));
        assertEq(built.uniswapFactory(), address(shared));
    }

    function test_RevertWhen_factoryConstructedWithWrongPairInitCodeHashOnFactoryWithPairs() public {
        IUniswapV2Factory shared = _freshUniswapFactory();
        IUniswapV2Pair first = IUniswapV2Pair(shared.createPair(makeAddr("tokenA"), makeAddr("tokenB")));
        bytes32 wrongHash = keccak256("not the pair");
        vm.expectRevert(
            abi.encodeWithSelector(
                IModelFactory.PairInitCodeHashMismatch.selector,
                wrongHash,
                address(first),
                _derivedPair(shared, wrongHash, first.token0(), first.token1())
            )
        );
        ModelFactory.Deployment memory d = _deployment();
        d.uniswapFactory = address(shared);
        d.pairInitCodeHash = wrongHash;
        new ModelFactory(d);
    }

    /// @dev A Uniswap factory without any pair: the check creates the probe pair, once. A second
    ///      deployment on it then reads that pair.
    function test_constructor_createsProbePairOnEmptyFactory() public {
        IUniswapV2Factory empty = _freshUniswapFactory();
        ModelFactory.Deployment memory d = _deployment();
        d.uniswapFactory = address(empty);
        new ModelFactory(d);
        assertEq(empty.allPairsLength(), 1);
        address probe = empty.getPair(address(1), address(2));
        assertEq(probe, _derivedPair(empty, pairInitCodeHash, address(1), address(2)));
        assertEq(empty.allPairs(0), probe);
        new ModelFactory(d);
        assertEq(empty.allPairsLength(), 1);
    }

    /// @dev The probe pair the check tries to create is reverted with it: the pair named in the error
    ///      is where the factory would have put it.
    function test_RevertWhen_factoryConstructedWithWrongPairInitCodeHashOnEmptyFactory() public {
        IUniswapV2Factory empty = _freshUniswapFactory();
        bytes32 wrongHash = keccak256("not the pair");
        vm.expectRevert(
            abi.encodeWithSelector(
                IModelFactory.PairInitCodeHashMismatch.selector,
                wrongHash,
                _derivedPair(empty, pairInitCodeHash, address(1), address(2)),
                _derivedPair(empty, wrongHash, address(1), address(2))
            )
        );
        ModelFactory.Deployment memory d = _deployment();
        d.uniswapFactory = address(empty);
        d.pairInitCodeHash = wrongHash;
        new ModelFactory(d);
        assertEq(empty.allPairsLength(), 0);
    }

    function _freshUniswapFactory() internal returns (IUniswapV2Factory) {
        return IUniswapV2Factory(_deployArtifact(V2_CORE_BUILD, "UniswapV2Factory", abi.encode(address(0))));
    }

    function _derivedPair(IUniswapV2Factory uniswap, bytes32 initCodeHash, address token0, address token1)
        internal
        pure
        returns (address)
    {
        return address(
            uint160(
                uint256(
                    keccak256(
                        abi.encodePacked(
                            hex"ff", address(uniswap), keccak256(abi.encodePacked(token0, token1)), initCodeHash
                        )
                    )
                )
            )
        );
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
