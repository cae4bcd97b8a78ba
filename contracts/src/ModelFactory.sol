// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {Clones} from "@openzeppelin/contracts/proxy/Clones.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {IUniswapV2Factory} from "@uniswap/v2-core/contracts/interfaces/IUniswapV2Factory.sol";
import {IUniswapV2Pair} from "@uniswap/v2-core/contracts/interfaces/IUniswapV2Pair.sol";
import {ModelToken} from "./ModelToken.sol";
import {ModelSale} from "./ModelSale.sol";
import {IModelFactory} from "./interfaces/IModelFactory.sol";
import {IModelToken} from "./interfaces/IModelToken.sol";
import {IModelSale} from "./interfaces/IModelSale.sol";
import {IRevenueVault} from "./interfaces/IRevenueVault.sol";

/// @title ModelFactory
/// @notice One transaction per model: clones token + sale, wires them, registers the token with the vault.
/// @dev The Uniswap V2 pair address is derived (CREATE2) at tokenize time so the token can refuse
///      transfers to it before graduation even if someone creates the pair early.
///      The factory deploys the two implementations itself, so they can hold the factory, PACA, the
///      vault and Uniswap as immutables and the clones store only per-model state (tokenize gas).
///      The creator is stored once, in the sale (which pays it fees); the vault only flags the model
///      as registered; the factory keeps only the pricing.
contract ModelFactory is AccessControl, IModelFactory {
    uint16 internal constant BPS = 10_000;
    uint16 public constant MAX_CREATOR_BPS = 1_000; // 10 %
    uint16 public constant MIN_LIQUIDITY_BPS = 500; // 5 %
    uint16 public constant MAX_LIQUIDITY_BPS = 3_000; // 30 %
    uint16 public constant MAX_TRADE_FEE_BPS = 500; // 5 %
    uint256 public constant MIN_TOTAL_SUPPLY = 1e24;
    uint256 public constant MAX_TOTAL_SUPPLY = 1e28; // balances and curve reserves are packed in 96 bits
    uint256 public constant MIN_GRADUATION_THRESHOLD = 1e18;
    uint256 public constant MAX_GRADUATION_THRESHOLD = 1e28;
    uint32 public constant MIN_DRIP_PERIOD = 1 hours;
    uint32 public constant MAX_DRIP_PERIOD = 90 days;
    /// @dev Any two distinct non-zero addresses, sorted: their pair only serves to check pairInitCodeHash
    ///      on a Uniswap factory that has no pair yet.
    address internal constant PROBE_TOKEN0 = address(1);
    address internal constant PROBE_TOKEN1 = address(2);

    address public immutable paca;
    address public immutable uniswapFactory;
    bytes32 public immutable pairInitCodeHash;
    address public immutable tokenImplementation;
    address public immutable saleImplementation;
    IRevenueVault public immutable vault;

    address public treasury;
    LaunchConfig private _config;
    mapping(bytes32 modelKey => address token) public tokenOf;
    mapping(address token => Pricing) private _pricing;

    struct Pricing {
        uint128 inputPricePer1M;
        uint128 outputPricePer1M;
    }

    struct Deployment {
        address paca;
        address uniswapFactory;
        bytes32 pairInitCodeHash; // keccak256 of UniswapV2Pair creation code of that factory
        IRevenueVault vault;
        address treasury;
        address admin;
    }

    constructor(Deployment memory d) {
        if (
            d.paca == address(0) || d.uniswapFactory == address(0) || address(d.vault) == address(0)
                || d.treasury == address(0)
                || d.admin == address(0)
        ) revert ZeroAddress();
        // With a wrong hash the token would guard an address Uniswap never deploys to and every
        // graduation would revert, locking the raise in the sale: check the hash against a pair this
        // Uniswap factory really deployed. That is its first pair; only a factory without any gets
        // one, of two fixed addresses, so a shared factory is not left a junk pair.
        IUniswapV2Factory uniswap = IUniswapV2Factory(d.uniswapFactory);
        address pair;
        address token0 = PROBE_TOKEN0;
        address token1 = PROBE_TOKEN1;
        if (uniswap.allPairsLength() == 0) {
            pair = uniswap.createPair(PROBE_TOKEN0, PROBE_TOKEN1);
        } else {
            pair = uniswap.allPairs(0);
            token0 = IUniswapV2Pair(pair).token0();
            token1 = IUniswapV2Pair(pair).token1();
        }
        address derived = _pairAddress(d.uniswapFactory, d.pairInitCodeHash, token0, token1);
        if (pair != derived) revert PairInitCodeHashMismatch(d.pairInitCodeHash, pair, derived);
        paca = d.paca;
        uniswapFactory = d.uniswapFactory;
        pairInitCodeHash = d.pairInitCodeHash;
        vault = d.vault;
        tokenImplementation = address(new ModelToken(IERC20(d.paca), address(d.vault)));
        saleImplementation = address(new ModelSale(IERC20(d.paca), IUniswapV2Factory(d.uniswapFactory)));
        treasury = d.treasury;
        _grantRole(DEFAULT_ADMIN_ROLE, d.admin);
        _setLaunchConfig(
            LaunchConfig({
                totalSupply: 1_000_000_000e18,
                graduationThreshold: 6_280_000e18,
                creatorBps: 314,
                liquidityBps: 1_250,
                tradeFeeBps: 100,
                protocolFeeShareBps: 5_000,
                // One settlement epoch (the settler's EPOCH_SECONDS): see ModelToken.notifyRevenue.
                revenueDripPeriod: 1 hours
            })
        );
        emit TreasuryUpdated(d.treasury);
    }

    // ---------------------------------------------------------------- tokenize

    /// @inheritdoc IModelFactory
    function tokenize(TokenizeParams calldata p) external returns (address token, address sale) {
        if (bytes(p.repoId).length == 0 || bytes(p.revision).length == 0) revert EmptyRepoIdOrRevision();
        bytes32 key = keccak256(abi.encode(p.repoId, p.revision));
        address existing = tokenOf[key];
        if (existing != address(0)) revert ModelAlreadyTokenized(key, existing);
        address creator = p.creator == address(0) ? msg.sender : p.creator;
        LaunchConfig memory c = _config;

        token = Clones.cloneDeterministic(tokenImplementation, key);
        sale = Clones.cloneDeterministic(saleImplementation, key);
        address pair = _pairFor(token);
        tokenOf[key] = token;
        if (p.inputPricePer1M != 0 || p.outputPricePer1M != 0) {
            _pricing[token] = Pricing({inputPricePer1M: p.inputPricePer1M, outputPricePer1M: p.outputPricePer1M});
        }

        uint256 creatorAllocation = (c.totalSupply * c.creatorBps) / BPS;
        uint256 liquidityReserve = (c.totalSupply * c.liquidityBps) / BPS;
        IModelToken(token).initialize(
            IModelToken.TokenInit({
                name: p.name,
                symbol: p.symbol,
                creator: creator,
                sale: sale,
                pair: pair,
                totalSupply: c.totalSupply,
                creatorAllocation: creatorAllocation,
                dripPeriod: c.revenueDripPeriod
            })
        );
        IModelSale(sale).initialize(
            IModelSale.SaleInit({
                token: token,
                creator: creator,
                curveSupply: c.totalSupply - creatorAllocation - liquidityReserve,
                liquidityReserve: liquidityReserve,
                graduationThreshold: c.graduationThreshold,
                tradeFeeBps: c.tradeFeeBps,
                protocolFeeShareBps: c.protocolFeeShareBps
            })
        );
        vault.registerModel(token, creator);

        emit ModelTokenized(token, sale, creator, key, pair, p, c);
    }

    /// @inheritdoc IModelFactory
    function setPricing(address token, uint128 inputPricePer1M, uint128 outputPricePer1M) external {
        if (!vault.isRegistered(token)) revert UnknownModel(token);
        if (IModelToken(token).creator() != msg.sender) revert NotModelCreator(token, msg.sender);
        _pricing[token] = Pricing({inputPricePer1M: inputPricePer1M, outputPricePer1M: outputPricePer1M});
        emit PricingUpdated(token, inputPricePer1M, outputPricePer1M);
    }

    // ---------------------------------------------------------------- admin

    /// @inheritdoc IModelFactory
    function setLaunchConfig(LaunchConfig calldata config) external onlyRole(DEFAULT_ADMIN_ROLE) {
        _setLaunchConfig(config);
    }

    /// @inheritdoc IModelFactory
    function setTreasury(address treasury_) external onlyRole(DEFAULT_ADMIN_ROLE) {
        if (treasury_ == address(0)) revert ZeroAddress();
        treasury = treasury_;
        emit TreasuryUpdated(treasury_);
    }

    function _setLaunchConfig(LaunchConfig memory c) internal {
        // The curve must sell more than the pool receives (the reserve maths needs S > L).
        if (
            c.totalSupply < MIN_TOTAL_SUPPLY || c.totalSupply > MAX_TOTAL_SUPPLY
                || c.graduationThreshold < MIN_GRADUATION_THRESHOLD
                || c.graduationThreshold > MAX_GRADUATION_THRESHOLD || c.creatorBps > MAX_CREATOR_BPS
                || c.liquidityBps < MIN_LIQUIDITY_BPS || c.liquidityBps > MAX_LIQUIDITY_BPS
                || BPS - c.creatorBps - c.liquidityBps <= c.liquidityBps || c.tradeFeeBps > MAX_TRADE_FEE_BPS
                || c.protocolFeeShareBps > BPS || c.revenueDripPeriod < MIN_DRIP_PERIOD
                || c.revenueDripPeriod > MAX_DRIP_PERIOD
        ) revert InvalidLaunchConfig();
        _config = c;
        emit LaunchConfigUpdated(c);
    }

    // ---------------------------------------------------------------- views

    /// @inheritdoc IModelFactory
    function modelKey(string calldata repoId, string calldata revision) external pure returns (bytes32) {
        return keccak256(abi.encode(repoId, revision));
    }

    /// @inheritdoc IModelFactory
    function modelInfo(address token) external view returns (ModelInfo memory info) {
        if (!vault.isRegistered(token)) revert UnknownModel(token);
        Pricing memory pricing = _pricing[token];
        return ModelInfo({
            sale: IModelToken(token).sale(),
            creator: IModelToken(token).creator(),
            inputPricePer1M: pricing.inputPricePer1M,
            outputPricePer1M: pricing.outputPricePer1M
        });
    }

    /// @inheritdoc IModelFactory
    function isModel(address token) external view returns (bool) {
        return vault.isRegistered(token);
    }

    /// @inheritdoc IModelFactory
    function launchConfig() external view returns (LaunchConfig memory) {
        return _config;
    }

    /// @inheritdoc IModelFactory
    function pairFor(address token) external view returns (address) {
        return _pairFor(token);
    }

    /// @inheritdoc IModelFactory
    function predictAddresses(bytes32 key) external view returns (address token, address sale) {
        token = Clones.predictDeterministicAddress(tokenImplementation, key);
        sale = Clones.predictDeterministicAddress(saleImplementation, key);
    }

    function _pairFor(address token) internal view returns (address) {
        (address token0, address token1) = token < paca ? (token, paca) : (paca, token);
        return _pairAddress(uniswapFactory, pairInitCodeHash, token0, token1);
    }

    /// @dev UniswapV2Library.pairFor: CREATE2 by the factory with salt keccak256(token0, token1).
    function _pairAddress(address factory, bytes32 initCodeHash, address token0, address token1)
        internal
        pure
        returns (address)
    {
        return address(
            uint160(
                uint256(
                    keccak256(
                        abi.encodePacked(hex"ff", factory, keccak256(abi.encodePacked(token0, token1)), initCodeHash)
                    )
                )
            )
        );
    }
}
