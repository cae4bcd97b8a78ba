// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

import {Test} from "forge-std/Test.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {IUniswapV2Factory} from "@uniswap/v2-core/contracts/interfaces/IUniswapV2Factory.sol";
import {IUniswapV2Pair} from "@uniswap/v2-core/contracts/interfaces/IUniswapV2Pair.sol";
import {IUniswapV2Router02} from "@uniswap/v2-periphery/contracts/interfaces/IUniswapV2Router02.sol";
import {LocalPaca} from "../../src/LocalPaca.sol";
import {ModelToken} from "../../src/ModelToken.sol";
import {ModelSale} from "../../src/ModelSale.sol";
import {ModelFactory} from "../../src/ModelFactory.sol";
import {RevenueVault} from "../../src/RevenueVault.sol";
import {IModelFactory} from "../../src/interfaces/IModelFactory.sol";
import {IRevenueVault} from "../../src/interfaces/IRevenueVault.sol";

/// @notice Deploys the whole market against the real Uniswap V2 bytecode from the npm build artifacts.
abstract contract ModeldexTest is Test {
    string internal constant V2_CORE_BUILD = "../node_modules/@uniswap/v2-core/build/";
    string internal constant V2_PERIPHERY_BUILD = "../node_modules/@uniswap/v2-periphery/build/";
    address internal constant DEAD = 0x000000000000000000000000000000000000dEaD;
    uint16 internal constant PROTOCOL_FEE_BPS = 500;
    uint16 internal constant CREATOR_FEE_BPS = 1_000;
    uint32 internal constant EPOCH_SECONDS = 1 hours; // the settler's epoch

    address internal admin = makeAddr("admin");
    address internal treasury = makeAddr("treasury");
    address internal settler = makeAddr("settler");
    address internal guardian = makeAddr("guardian");
    address internal creator = makeAddr("creator");
    address internal alice = makeAddr("alice");
    address internal bob = makeAddr("bob");
    address internal payer = makeAddr("payer");

    LocalPaca internal paca;
    IUniswapV2Factory internal uniswapFactory;
    IUniswapV2Router02 internal router;
    bytes32 internal pairInitCodeHash;
    RevenueVault internal vault;
    ModelFactory internal factory;

    /// @dev The factory's wiring in these tests; a test that needs a misconfigured one changes a field.
    function _deployment() internal view returns (ModelFactory.Deployment memory) {
        return ModelFactory.Deployment({
            paca: address(paca),
            uniswapFactory: address(uniswapFactory),
            pairInitCodeHash: pairInitCodeHash,
            vault: IRevenueVault(address(vault)),
            treasury: treasury,
            admin: admin
        });
    }

    function setUp() public virtual {
        vm.warp(1_750_000_000);
        paca = new LocalPaca();
        uniswapFactory = IUniswapV2Factory(_deployArtifact(V2_CORE_BUILD, "UniswapV2Factory", abi.encode(address(0))));
        address weth = _deployArtifact(V2_PERIPHERY_BUILD, "WETH9", "");
        router = IUniswapV2Router02(
            _deployArtifact(V2_PERIPHERY_BUILD, "UniswapV2Router02", abi.encode(address(uniswapFactory), weth))
        );
        pairInitCodeHash = keccak256(_artifactCode(V2_CORE_BUILD, "UniswapV2Pair"));

        vault = new RevenueVault(IERC20(address(paca)), admin, PROTOCOL_FEE_BPS, CREATOR_FEE_BPS, EPOCH_SECONDS);
        factory = new ModelFactory(_deployment());
        vm.startPrank(admin);
        vault.grantRole(vault.REGISTRAR_ROLE(), address(factory));
        vault.grantRole(vault.SETTLER_ROLE(), settler);
        vault.grantRole(vault.GUARDIAN_ROLE(), guardian);
        vm.stopPrank();
    }

    // ---------------------------------------------------------------- helpers

    function _artifactCode(string memory dir, string memory name) internal view returns (bytes memory) {
        return vm.parseJsonBytes(vm.readFile(string.concat(dir, name, ".json")), ".evm.bytecode.object");
    }

    function _deployArtifact(string memory dir, string memory name, bytes memory args)
        internal
        returns (address deployed)
    {
        bytes memory code = abi.encodePacked(_artifactCode(dir, name), args);
        assembly ("memory-safe") {
            deployed := create(0, add(code, 0x20), mload(code))
        }
        require(deployed != address(0), "artifact deploy failed");
    }

    function _params(string memory repoId) internal view returns (IModelFactory.TokenizeParams memory) {
        return IModelFactory.TokenizeParams({
            repoId: repoId,
            revision: "main",
            name: "Llama Model",
            symbol: "LLAMA",
            metadataURI: "ipfs://meta",
            inputPricePer1M: 2e17,
            outputPricePer1M: 6e17,
            creator: creator
        });
    }

    function _tokenize(string memory repoId) internal returns (ModelToken token, ModelSale sale) {
        (address t, address s) = factory.tokenize(_params(repoId));
        return (ModelToken(t), ModelSale(s));
    }

    function _fund(address who, uint256 amount) internal {
        while (amount > 0) {
            uint256 chunk = amount > paca.FAUCET_LIMIT() ? paca.FAUCET_LIMIT() : amount;
            paca.faucet(who, chunk);
            amount -= chunk;
        }
    }

    function _buy(ModelSale sale, address who, uint256 pacaIn) internal returns (uint256 tokensOut) {
        _fund(who, pacaIn);
        vm.startPrank(who);
        paca.approve(address(sale), pacaIn);
        (tokensOut,) = sale.buy(pacaIn, 0, who, block.timestamp);
        vm.stopPrank();
    }

    function _sell(ModelSale sale, address who, uint256 tokenIn) internal returns (uint256 pacaOut) {
        vm.prank(who);
        pacaOut = sale.sell(tokenIn, 0, who, block.timestamp);
    }

    /// @dev Buys until the curve sells out (graduates in that same buy).
    function _buyOut(ModelSale sale, address who) internal returns (uint256 tokensOut) {
        return _buy(sale, who, 8_000_000e18);
    }

    function _deposit(address from, uint256 amount) internal {
        _fund(from, amount);
        vm.startPrank(from);
        paca.approve(address(vault), amount);
        vault.deposit(from, amount);
        vm.stopPrank();
    }

    function _settleOne(uint64 epoch, address model, uint256 cumulative) internal {
        address[] memory models = new address[](1);
        uint256[] memory fees = new uint256[](1);
        models[0] = model;
        fees[0] = cumulative;
        vm.prank(settler);
        vault.settle(epoch, models, fees, keccak256(abi.encode(epoch)));
    }

    function _pairReserves(ModelToken token) internal view returns (uint256 tokenReserve, uint256 pacaReserve) {
        IUniswapV2Pair pair = IUniswapV2Pair(token.pair());
        (uint112 r0, uint112 r1,) = pair.getReserves();
        (tokenReserve, pacaReserve) = pair.token0() == address(token) ? (r0, r1) : (r1, r0);
    }
}
