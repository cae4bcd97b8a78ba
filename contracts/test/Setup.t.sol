// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;
import {ModeldexTest} from "./utils/ModeldexTest.sol";
contract SetupTest is ModeldexTest {
    function test_setup_pairHashMatchesRouter() public view {
        assertEq(pairInitCodeHash, 0x96e8ac4277198ff8b6f785478aa9a39f403cb768dd02cbee326c3e7da348845f);
    }
}
