// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

import {IAccessControl} from "@openzeppelin/contracts/access/IAccessControl.sol";
import {Initializable} from "@openzeppelin/contracts/proxy/utils/Initializable.sol";
import {ModeldexTest} from "./utils/ModeldexTest.sol";
import {ModelToken} from "../src/ModelToken.sol";
import {ModelSale} from "../src/ModelSale.sol";
import {IModelFactory} from "../src/interfaces/IModelFactory.sol";
import {IModelToken} from "../src/interfaces/IModelToken.sol";
import {IModelSale} from "../src/interfaces/IModelSale.sol";

contract ModelFactoryTest is ModeldexTest {
    function test_tokenize_deploysTokenAndSaleWithDefaultAllocation() public {
        (ModelToken token, ModelSale sale) = _tokenize("meta-llama/Llama-3.1-8B");

        assertEq(token.name(), "Llama Model");
        assertEq(token.symbol(), "LLAMA");
        assertEq(token.totalSupply(), 1_000_000_000e18);
        assertEq(token.balanceOf(creator), 31_400_000e18); // 3.14 %
        assertEq(token.balanceOf(address(sale)), 968_600_000e18);
        assertEq(sale.liquidityReserve(), 125_000_000e18); // 12.5 %
        assertEq(sale.curveSupply(), 843_600_000e18);
        assertEq(token.sale(), address(sale));
        assertEq(token.creator(), creator);
        assertEq(token.pair(), factory.pairFor(address(token)));
        assertEq(token.shareSupply(), 31_400_000e18);
        assertTrue(factory.isModel(address(token)));
        assertTrue(vault.isRegistered(address(token)));
        assertEq(vault.creatorOf(address(token)), creator);

        IModelFactory.ModelInfo memory info = factory.modelInfo(address(token));
        assertEq(info.sale, address(sale));
        assertEq(info.creator, creator);
        assertEq(info.inputPricePer1M, 2e17);
        assertEq(info.outputPricePer1M, 6e17);

        bytes32 key = factory.modelKey("meta-llama/Llama-3.1-8B", "main");
        assertEq(factory.tokenOf(key), address(token));
        (address predictedToken, address predictedSale) = factory.predictAddresses(key);
        assertEq(predictedToken, address(token));
        assertEq(predictedSale, address(sale));
    }

    function test_tokenize_emitsModelTokenized() public {
        bytes32 key = factory.modelKey("org/model", "main");
        (address token, address sale) = factory.predictAddresses(key);
        vm.expectEmit(true, true, true, true, address(factory));
        emit IModelFactory.ModelTokenized(
            token, sale, creator, key, factory.pairFor(token), _params("org/model"), factory.launchConfig()
        );
        factory.tokenize(_params("org/model"));
    }

    function test_tokenize_creatorDefaultsToCaller() public {
        IModelFactory.TokenizeParams memory p = _params("org/model");
        p.creator = address(0);
        vm.prank(alice);
        (address token,) = factory.tokenize(p);
        assertEq(ModelToken(token).creator(), alice);
        assertEq(ModelToken(token).balanceOf(alice), 31_400_000e18);
    }

    function test_tokenize_sameRepoNewRevisionIsANewModel() public {
        (ModelToken first,) = _tokenize("org/model");
        IModelFactory.TokenizeParams memory p = _params("org/model");
        p.revision = "v2";
        (address second,) = factory.tokenize(p);
        assertTrue(second != address(first));
    }

    function test_tokenize_usesUpdatedLaunchConfig() public {
        IModelFactory.LaunchConfig memory c = factory.launchConfig();
        c.totalSupply = 21_000_000e18;
        c.creatorBps = 0;
        c.liquidityBps = 2_000;
        c.graduationThreshold = 100_000e18;
        vm.prank(admin);
        factory.setLaunchConfig(c);
        (ModelToken token, ModelSale sale) = _tokenize("org/model");
        assertEq(token.totalSupply(), 21_000_000e18);
        assertEq(token.balanceOf(creator), 0);
        assertEq(sale.liquidityReserve(), 4_200_000e18);
        assertEq(sale.curveSupply(), 16_800_000e18);
    }

    function test_RevertWhen_tokenizeTwiceSameRepoRevision() public {
        (ModelToken token,) = _tokenize("org/model");
        bytes32 key = factory.modelKey("org/model", "main");
        vm.expectRevert(abi.encodeWithSelector(IModelFactory.ModelAlreadyTokenized.selector, key, address(token)));
        factory.tokenize(_params("org/model"));
    }

    function test_RevertWhen_tokenizeEmptyRepoId() public {
        vm.expectRevert(IModelFactory.EmptyRepoIdOrRevision.selector);
        factory.tokenize(_params(""));
    }

    function test_RevertWhen_tokenizeEmptyRevision() public {
        IModelFactory.TokenizeParams memory p = _params("org/model");
        p.revision = "";
        vm.expectRevert(IModelFactory.EmptyRepoIdOrRevision.selector);
        factory.tokenize(p);
    }

    function test_setPricing_creatorUpdatesAndEmits() public {
        (ModelToken token,) = _tokenize("org/model");
        vm.expectEmit(true, false, false, true, address(factory));
        emit IModelFactory.PricingUpdated(address(token), 5e17, 15e17);
        vm.prank(creator);
        factory.setPricing(address(token), 5e17, 15e17);
        assertEq(factory.modelInfo(address(token)).inputPricePer1M, 5e17);
        assertEq(factory.modelInfo(address(token)).outputPricePer1M, 15e17);
    }

    function test_RevertWhen_setPricingNotCreator() public {
        (ModelToken token,) = _tokenize("org/model");
        vm.expectRevert(abi.encodeWithSelector(IModelFactory.NotModelCreator.selector, address(token), alice));
        vm.prank(alice);
        factory.setPricing(address(token), 1, 1);
    }

    function test_RevertWhen_setPricingUnknownModel() public {
        vm.expectRevert(abi.encodeWithSelector(IModelFactory.UnknownModel.selector, alice));
        factory.setPricing(alice, 1, 1);
    }

    function test_RevertWhen_setLaunchConfigNotAdmin() public {
        IModelFactory.LaunchConfig memory c = factory.launchConfig();
        vm.expectRevert(
            abi.encodeWithSelector(
                IAccessControl.AccessControlUnauthorizedAccount.selector, alice, factory.DEFAULT_ADMIN_ROLE()
            )
        );
        vm.prank(alice);
        factory.setLaunchConfig(c);
    }

    function test_RevertWhen_setLaunchConfigOutOfBounds() public {
        IModelFactory.LaunchConfig memory base = factory.launchConfig();
        IModelFactory.LaunchConfig[8] memory bad;
        for (uint256 i; i < bad.length; ++i) {
            bad[i] = base;
        }
        bad[0].creatorBps = 1_001; // > 10 %
        bad[1].liquidityBps = 499; // < 5 %
        bad[2].liquidityBps = 3_001; // > 30 %
        bad[3].tradeFeeBps = 501;
        bad[4].graduationThreshold = 0;
        bad[5].revenueDripPeriod = 59 minutes;
        bad[6].totalSupply = 1e23;
        bad[7].totalSupply = 1e28 + 1;
        vm.startPrank(admin);
        for (uint256 i; i < bad.length; ++i) {
            vm.expectRevert(IModelFactory.InvalidLaunchConfig.selector);
            factory.setLaunchConfig(bad[i]);
        }
        vm.stopPrank();
    }

    function test_RevertWhen_setTreasuryZero() public {
        vm.expectRevert(IModelFactory.ZeroAddress.selector);
        vm.prank(admin);
        factory.setTreasury(address(0));
    }

    function test_RevertWhen_cloneInitializedTwice() public {
        (ModelToken token, ModelSale sale) = _tokenize("org/model");
        IModelToken.TokenInit memory ti;
        vm.expectRevert(Initializable.InvalidInitialization.selector);
        token.initialize(ti);
        IModelSale.SaleInit memory si;
        vm.expectRevert(Initializable.InvalidInitialization.selector);
        sale.initialize(si);
    }

    function test_RevertWhen_implementationInitialized() public {
        IModelToken.TokenInit memory ti;
        ModelToken implementation = ModelToken(factory.tokenImplementation());
        vm.expectRevert(Initializable.InvalidInitialization.selector);
        implementation.initialize(ti);
    }
}
