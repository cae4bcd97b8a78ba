// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";
import {ModeldexTest} from "./utils/ModeldexTest.sol";
import {ModelToken} from "../src/ModelToken.sol";
import {ModelSale} from "../src/ModelSale.sol";

contract PlainToken is ERC20 {
    constructor(address holder) ERC20("Plain", "PLN") {
        _mint(holder, 1_000_000e18);
    }
}

/// @notice Gas of the calls the issue sets targets for. Numbers are call gas as `snapshotGasLastCall`
///         measures it (execution, without the 21k intrinsic and calldata of a transaction), written to
///         contracts/snapshots/ModeldexGas.json; targets are asserted so a regression fails the suite.
contract GasTest is ModeldexTest {
    uint256 internal constant TOKENIZE_TARGET = 600_000;
    uint256 internal constant CLAIM_TARGET = 60_000;
    uint256 internal constant SETTLE_BASE_TARGET = 50_000;
    uint256 internal constant SETTLE_PER_MODEL_TARGET = 35_000;

    function test_gas_tokenize() public {
        factory.tokenize(_params("meta-llama/Llama-3.1-8B-Instruct"));
        uint256 used = vm.snapshotGasLastCall("ModeldexGas", "tokenize");
        assertLe(used, TOKENIZE_TARGET);
    }

    function test_gas_claim() public {
        (ModelToken token,) = _tokenize("org/model");
        _deposit(payer, 1_000e18);
        _settleOne(1, address(token), 100e18);
        vm.warp(block.timestamp + 1 days);
        vm.prank(creator);
        token.claim();
        uint256 first = vm.snapshotGasLastCall("ModeldexGas", "claim (first, recipient holds no PACA)");
        vm.warp(block.timestamp + 1 days);
        vm.prank(creator);
        token.claim();
        uint256 again = vm.snapshotGasLastCall("ModeldexGas", "claim (recipient already holds PACA)");
        assertLe(first, CLAIM_TARGET);
        assertLe(again, CLAIM_TARGET);
    }

    function test_gas_settle() public {
        uint256 n = 10;
        address[] memory models = new address[](n);
        uint256[] memory fees = new uint256[](n);
        for (uint256 i; i < n; ++i) {
            (ModelToken t,) = _tokenize(string.concat("org/model-", vm.toString(i)));
            models[i] = address(t);
        }
        _deposit(payer, 1_000_000e18);
        // first settlement of each model (fresh storage) and a steady-state one
        uint256 one1 = _settleN(1, models, fees, 1, 1e18);
        uint256 ten1 = _settleN(2, models, fees, n, 1e18);
        uint256 one2 = _settleN(3, models, fees, 1, 2e18);
        uint256 ten2 = _settleN(4, models, fees, n, 3e18);
        vm.prank(settler);
        vault.settle(5, new address[](0), new uint256[](0), bytes32(uint256(5)));
        uint256 empty = vm.snapshotGasLastCall("ModeldexGas", "settle (0 models)");

        uint256 perModel = (ten2 - one2) / (n - 1);
        emit log_named_uint("settle 1 model (first time)", one1);
        emit log_named_uint("settle 10 models (9 first time)", ten1);
        emit log_named_uint("settle 1 model (steady)", one2);
        emit log_named_uint("settle 10 models (steady)", ten2);
        emit log_named_uint("settle marginal gas per model (steady)", perModel);
        assertLe(one2, SETTLE_BASE_TARGET + SETTLE_PER_MODEL_TARGET);
        assertLe(ten2, SETTLE_BASE_TARGET + n * SETTLE_PER_MODEL_TARGET);
        assertLe(empty, SETTLE_BASE_TARGET);
    }

    function test_gas_transferVersusPlainERC20() public {
        (ModelToken token, ModelSale sale) = _tokenize("org/model");
        _buy(sale, alice, 1_000_000e18);
        _deposit(payer, 1_000e18);
        _settleOne(1, address(token), 100e18);
        vm.warp(block.timestamp + 1 days);
        // both sides already hold tokens and corrections: steady-state holder-to-holder transfer
        vm.prank(alice);
        token.transfer(bob, 1e18);
        vm.warp(block.timestamp + 1 hours);
        vm.prank(alice);
        token.transfer(bob, 1e18);
        uint256 modelTransfer = vm.snapshotGasLastCall("ModeldexGas", "ModelToken.transfer (holder to holder)");

        PlainToken plain = new PlainToken(alice);
        vm.prank(alice);
        plain.transfer(bob, 1e18);
        vm.prank(alice);
        plain.transfer(bob, 1e18);
        uint256 plainTransfer = vm.snapshotGasLastCall("ModeldexGas", "OpenZeppelin ERC20.transfer (same case)");
        emit log_named_uint("extra gas over plain OZ ERC-20", modelTransfer - plainTransfer);
        // two extra warm SSTOREs (the corrections) and the reads of the drip state
        assertLe(modelTransfer - plainTransfer, 2 * 5_000 + 4 * 2_100 + 1_500);
    }

    function test_gas_curveTrades() public {
        (ModelToken token, ModelSale sale) = _tokenize("org/model");
        _fund(alice, 2_000e18);
        vm.startPrank(alice);
        paca.approve(address(sale), type(uint256).max);
        sale.buy(1_000e18, 0, alice, block.timestamp);
        sale.buy(1_000e18, 0, alice, block.timestamp);
        vm.snapshotGasLastCall("ModeldexGas", "ModelSale.buy");
        sale.sell(token.balanceOf(alice) / 2, 0, alice, block.timestamp);
        vm.snapshotGasLastCall("ModeldexGas", "ModelSale.sell");
        vm.stopPrank();
        _fund(bob, 8_000_000e18);
        vm.startPrank(bob);
        paca.approve(address(sale), type(uint256).max);
        sale.buy(8_000_000e18, 0, bob, block.timestamp);
        vm.snapshotGasLastCall("ModeldexGas", "ModelSale.buy (sells out + graduates, creates pair)");
        vm.stopPrank();
    }

    function _settleN(uint64 epoch, address[] memory all, uint256[] memory fees, uint256 count, uint256 cumulative)
        internal
        returns (uint256)
    {
        address[] memory models = new address[](count);
        uint256[] memory cumulativeFees = new uint256[](count);
        for (uint256 i; i < count; ++i) {
            models[i] = all[i];
            cumulativeFees[i] = cumulative;
        }
        fees; // shape only
        vm.prank(settler);
        vault.settle(epoch, models, cumulativeFees, keccak256(abi.encode(epoch)));
        return vm.snapshotGasLastCall(
            "ModeldexGas", string.concat("settle (", vm.toString(count), " models, epoch ", vm.toString(epoch), ")")
        );
    }
}
