// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";
import {ModeldexTest} from "./utils/ModeldexTest.sol";
import {ModelToken} from "../src/ModelToken.sol";
import {ModelSale} from "../src/ModelSale.sol";

contract PlainToken is ERC20 {
    constructor(address holder, address other) ERC20("Plain", "PLN") {
        _mint(holder, 1_000_000e18);
        _mint(other, 1e18);
    }
}

/// @notice Gas of the calls the issue sets targets for. State is prepared in setUp (its own
///         transaction) and each test makes exactly one measured call, so storage is cold and the
///         SSTORE prices are those of a fresh transaction. Numbers are call gas as
///         `snapshotGasLastCall` measures it (without the 21,000 intrinsic gas and calldata) and are
///         written to contracts/snapshots/ModeldexGas.json. Targets are asserted.
contract GasTest is ModeldexTest {
    uint256 internal constant TOKENIZE_TARGET = 600_000;
    uint256 internal constant CLAIM_TARGET = 60_000;
    uint256 internal constant SETTLE_BASE_TARGET = 50_000;
    uint256 internal constant SETTLE_PER_MODEL_TARGET = 35_000;
    uint256 internal constant MODELS = 10;

    address internal carol = makeAddr("carol");
    ModelToken internal token;
    ModelSale internal sale;
    PlainToken internal plain;
    address[] internal settledModels; // settled once already
    address[] internal freshModels; // never settled

    function setUp() public override {
        super.setUp();
        (token, sale) = _tokenize("org/model");
        settledModels.push(address(token));
        for (uint256 i = 1; i < MODELS; ++i) {
            (ModelToken t,) = _tokenize(string.concat("org/model-", vm.toString(i)));
            settledModels.push(address(t));
        }
        for (uint256 i; i < MODELS; ++i) {
            (ModelToken t,) = _tokenize(string.concat("org/fresh-", vm.toString(i)));
            freshModels.push(address(t));
        }
        _buy(sale, alice, 1_000_000e18); // alice spends all her PACA
        _buy(sale, carol, 1_000e18); // bought before any revenue and never transfers: empty correction slot
        _buy(sale, bob, 1_000e18);
        _fund(bob, 1e18); // bob holds PACA already
        _deposit(payer, 10_000_000e18);
        _settle(1, settledModels, 1_000e18);
        vm.warp(block.timestamp + 1 days);
        _settle(2, settledModels, 1_500e18); // accumulators now non-zero: steady state from here
        vm.warp(block.timestamp + 1 days);
        // both holders already have corrections: steady-state transfers
        vm.prank(alice);
        token.transfer(bob, 1e18);
        vm.warp(block.timestamp + 1 hours);
        plain = new PlainToken(alice, bob);
    }

    function test_gas_tokenize() public {
        factory.tokenize(_params("meta-llama/Llama-3.1-8B-Instruct"));
        assertLe(vm.snapshotGasLastCall("ModeldexGas", "tokenize"), TOKENIZE_TARGET);
    }

    function test_gas_claim_recipientWithoutPaca() public {
        vm.prank(alice);
        token.claim();
        assertLe(vm.snapshotGasLastCall("ModeldexGas", "claim (recipient holds no PACA yet)"), CLAIM_TARGET);
    }

    /// @dev Worst case: the holder's correction slot and PACA balance are both written for the first time.
    function test_gas_claim_firstClaimFreshSlots() public {
        vm.prank(carol);
        token.claim();
        vm.snapshotGasLastCall("ModeldexGas", "claim (first ever: empty correction slot, holds no PACA)");
    }

    function test_gas_claim_creatorFirstClaim() public {
        vm.prank(creator);
        token.claim();
        vm.snapshotGasLastCall("ModeldexGas", "claim (first ever: empty correction slot, holds PACA)");
    }

    function test_gas_claim_recipientWithPaca() public {
        vm.prank(bob);
        token.claim();
        assertLe(vm.snapshotGasLastCall("ModeldexGas", "claim (recipient already holds PACA)"), CLAIM_TARGET);
    }

    function test_gas_settle_oneModel() public {
        _settle(3, _first(settledModels, 1), 2_000e18);
        assertLe(
            vm.snapshotGasLastCall("ModeldexGas", "settle 1 model"), SETTLE_BASE_TARGET + SETTLE_PER_MODEL_TARGET
        );
    }

    function test_gas_settle_tenModels() public {
        _settle(3, settledModels, 2_000e18);
        assertLe(
            vm.snapshotGasLastCall("ModeldexGas", "settle 10 models"),
            SETTLE_BASE_TARGET + MODELS * SETTLE_PER_MODEL_TARGET
        );
    }

    function test_gas_settle_oneModelFirstEver() public {
        _settle(3, _first(freshModels, 1), 2_000e18);
        vm.snapshotGasLastCall("ModeldexGas", "settle 1 model, its first settlement");
    }

    function test_gas_settle_tenModelsFirstEver() public {
        _settle(3, freshModels, 2_000e18);
        vm.snapshotGasLastCall("ModeldexGas", "settle 10 models, their first settlement");
    }

    function test_gas_settle_noModels() public {
        _settle(3, new address[](0), 0);
        assertLe(vm.snapshotGasLastCall("ModeldexGas", "settle 0 models"), SETTLE_BASE_TARGET);
    }

    function test_gas_transfer_modelToken() public {
        vm.prank(alice);
        token.transfer(bob, 1e18);
        vm.snapshotGasLastCall("ModeldexGas", "ModelToken.transfer holder to holder");
    }

    function test_gas_transfer_plainOpenZeppelinERC20() public {
        vm.prank(alice);
        plain.transfer(bob, 1e18);
        vm.snapshotGasLastCall("ModeldexGas", "OpenZeppelin ERC20.transfer holder to holder");
    }

    function test_gas_buy() public {
        _fund(payer, 1_000e18);
        vm.startPrank(payer);
        paca.approve(address(sale), 1_000e18);
        sale.buy(1_000e18, 0, payer, block.timestamp);
        vm.snapshotGasLastCall("ModeldexGas", "ModelSale.buy");
        vm.stopPrank();
    }

    function test_gas_sell() public {
        vm.prank(alice);
        sale.sell(1_000e18, 0, alice, block.timestamp);
        vm.snapshotGasLastCall("ModeldexGas", "ModelSale.sell");
    }

    function test_gas_buyThatGraduates() public {
        _fund(payer, 8_000_000e18);
        vm.startPrank(payer);
        paca.approve(address(sale), 8_000_000e18);
        sale.buy(8_000_000e18, 0, payer, block.timestamp);
        vm.snapshotGasLastCall("ModeldexGas", "ModelSale.buy that sells out and graduates (creates the pair)");
        vm.stopPrank();
    }

    function test_gas_deposit() public {
        _fund(bob, 100e18);
        vm.startPrank(bob);
        paca.approve(address(vault), 100e18);
        vault.deposit(bob, 100e18);
        vm.snapshotGasLastCall("ModeldexGas", "RevenueVault.deposit");
        vm.stopPrank();
    }

    function _first(address[] storage all, uint256 n) internal view returns (address[] memory out) {
        out = new address[](n);
        for (uint256 i; i < n; ++i) {
            out[i] = all[i];
        }
    }

    function _settle(uint64 epoch, address[] memory models, uint256 cumulative) internal {
        uint256[] memory fees = new uint256[](models.length);
        for (uint256 i; i < models.length; ++i) {
            fees[i] = cumulative;
        }
        vm.prank(settler);
        vault.settle(epoch, models, fees, keccak256(abi.encode(epoch)));
    }
}
