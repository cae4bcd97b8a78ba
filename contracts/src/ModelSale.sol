// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {Initializable} from "@openzeppelin/contracts/proxy/utils/Initializable.sol";
import {ReentrancyGuardTransient} from "@openzeppelin/contracts/utils/ReentrancyGuardTransient.sol";
import {Math} from "@openzeppelin/contracts/utils/math/Math.sol";
import {SafeCast} from "@openzeppelin/contracts/utils/math/SafeCast.sol";
import {IUniswapV2Factory} from "@uniswap/v2-core/contracts/interfaces/IUniswapV2Factory.sol";
import {IUniswapV2Pair} from "@uniswap/v2-core/contracts/interfaces/IUniswapV2Pair.sol";
import {IModelSale} from "./interfaces/IModelSale.sol";
import {IModelToken} from "./interfaces/IModelToken.sol";
import {IModelFactory} from "./interfaces/IModelFactory.sol";

/// @title ModelSale
/// @notice IMO bonding curve of one model (an EIP-1167 clone). See IModelSale for the curve maths.
contract ModelSale is Initializable, ReentrancyGuardTransient, IModelSale {
    using SafeERC20 for IERC20;
    using SafeCast for uint256;

    uint256 internal constant BPS = 10_000;
    address internal constant DEAD = 0x000000000000000000000000000000000000dEaD;
    /// @dev Gas the closing buy must still hold before graduating (measured: ~2.75M with pair creation,
    ///      ~0.3M when the pair exists), with margin for the 63/64 forwarding rule.
    uint256 internal constant GRADUATION_GAS_NEW_PAIR = 3_300_000;
    uint256 internal constant GRADUATION_GAS_EXISTING_PAIR = 700_000;

    IERC20 public immutable paca;
    IUniswapV2Factory public immutable uniswapFactory;
    /// @dev The ModelFactory deploys this implementation; clones read the treasury from it.
    address public immutable factory;

    address public token;
    uint16 public tradeFeeBps;
    uint16 public protocolFeeShareBps;
    State public state;
    address public creator;
    uint128 private _virtualPaca;
    uint128 private _virtualToken;
    uint128 private _initialVirtualPaca;
    uint128 private _initialVirtualToken;
    uint128 public curveSupply;
    uint128 public liquidityReserve;

    constructor(IERC20 paca_, IUniswapV2Factory uniswapFactory_) {
        paca = paca_;
        uniswapFactory = uniswapFactory_;
        factory = msg.sender;
        _disableInitializers();
    }

    /// @inheritdoc IModelSale
    /// @dev With S = curveSupply, L = liquidityReserve, R = graduationThreshold the reserves solve
    ///        (x0 + R)(y0 - S) = x0 y0          (selling S raises R)
    ///        (x0 + R)/(y0 - S) = R / L         (final curve price = pool price)
    ///      giving x0 = L R / (S - L) and y0 = S + x0 S / R.
    function initialize(SaleInit calldata init) external initializer {
        uint256 s = init.curveSupply;
        uint256 l = init.liquidityReserve;
        uint256 r = init.graduationThreshold;
        if (
            init.token == address(0) || init.creator == address(0) || l == 0
                || s <= l || r == 0 || s > type(uint96).max || r > type(uint96).max || init.tradeFeeBps >= BPS
                || init.protocolFeeShareBps > BPS
        ) revert InvalidSaleParams();
        uint256 x0 = Math.mulDiv(l, r, s - l);
        uint256 y0 = s + Math.mulDiv(x0, s, r);
        if (x0 == 0) revert InvalidSaleParams();

        token = init.token;
        tradeFeeBps = init.tradeFeeBps;
        protocolFeeShareBps = init.protocolFeeShareBps;
        state = State.Open;
        creator = init.creator;
        _virtualPaca = x0.toUint128();
        _virtualToken = y0.toUint128();
        _initialVirtualPaca = uint128(x0);
        _initialVirtualToken = uint128(y0);
        curveSupply = uint128(s);
        liquidityReserve = uint128(l);
    }

    // ---------------------------------------------------------------- trading

    /// @inheritdoc IModelSale
    function buy(uint256 pacaIn, uint256 minTokensOut, address recipient, uint256 deadline)
        external
        nonReentrant
        returns (uint256 tokensOut, uint256 pacaPaid)
    {
        if (block.timestamp > deadline) revert DeadlineExpired(deadline);
        if (state != State.Open) revert SaleNotOpen(state);
        if (pacaIn == 0) revert ZeroAmount();

        uint256 fee;
        uint256 newVirtualPaca;
        uint256 newVirtualToken;
        bool soldOut;
        (tokensOut, pacaPaid, fee, newVirtualPaca, newVirtualToken, soldOut) = _quoteBuy(pacaIn);
        if (tokensOut == 0) revert ZeroAmount();
        if (tokensOut < minTokensOut) revert SlippageExceeded(tokensOut, minTokensOut);

        _virtualPaca = uint128(newVirtualPaca);
        _virtualToken = uint128(newVirtualToken);
        if (soldOut) state = State.Closed;

        paca.safeTransferFrom(msg.sender, address(this), pacaPaid);
        _payFee(fee);
        IERC20(token).safeTransfer(recipient, tokensOut);
        emit Trade(msg.sender, recipient, true, pacaPaid, tokensOut, fee, newVirtualPaca, newVirtualToken);

        if (soldOut) {
            // Graduation failing must not undo the buy; anyone can retry with graduate(). But a buy must
            // not be able to close the curve by starving graduation of gas (eth_estimateGas would find
            // exactly that cheaper path for every wallet), so it first requires enough gas to graduate.
            uint256 needed = uniswapFactory.getPair(token, address(paca)) == address(0)
                ? GRADUATION_GAS_NEW_PAIR
                : GRADUATION_GAS_EXISTING_PAIR;
            if (gasleft() < needed) revert GraduationOutOfGas();
            uint256 gasBefore = gasleft();
            try this.completeGraduation() {}
            catch (bytes memory reason) {
                // Running out of gas inside leaves ~1/64 here. Revert then, or eth_estimateGas (and any
                // griefer) would find the cheaper "close the curve without graduating" path.
                if (gasleft() <= gasBefore / 63) revert GraduationOutOfGas();
                emit GraduationFailed(reason);
            }
        }
    }

    /// @inheritdoc IModelSale
    function sell(uint256 tokenIn, uint256 minPacaOut, address recipient, uint256 deadline)
        external
        nonReentrant
        returns (uint256 pacaOut)
    {
        if (block.timestamp > deadline) revert DeadlineExpired(deadline);
        if (state != State.Open) revert SaleNotOpen(state);
        if (tokenIn == 0) revert ZeroAmount();

        uint256 fee;
        uint256 newVirtualPaca;
        (pacaOut, fee, newVirtualPaca) = _quoteSell(tokenIn);
        if (pacaOut == 0) revert ZeroAmount();
        if (pacaOut < minPacaOut) revert SlippageExceeded(pacaOut, minPacaOut);

        uint256 newVirtualToken = _virtualToken + tokenIn;
        _virtualPaca = uint128(newVirtualPaca);
        _virtualToken = uint128(newVirtualToken);

        IERC20(token).safeTransferFrom(msg.sender, address(this), tokenIn);
        paca.safeTransfer(recipient, pacaOut);
        _payFee(fee);
        emit Trade(msg.sender, recipient, false, pacaOut, tokenIn, fee, newVirtualPaca, newVirtualToken);
    }

    // ---------------------------------------------------------------- graduation

    /// @inheritdoc IModelSale
    function graduate() external nonReentrant {
        if (state != State.Closed) revert NotGraduationPending(state);
        _graduate();
    }

    /// @inheritdoc IModelSale
    function completeGraduation() external {
        if (msg.sender != address(this)) revert OnlySelf();
        _graduate();
    }

    /// @dev Seeds the pool at the curve's final price whatever an attacker did to the pair before:
    ///      - pair pre-created: reused;
    ///      - unsynced donations: skimmed to the treasury;
    ///      - synced PACA donation (reserves (0, d)): only `target - d` raised PACA goes in, so the pool
    ///        holds exactly the target, and the same amount `d` of raised PACA goes to the treasury.
    ///        The attacker loses `d`; holders and the price are unaffected.
    ///      The token cannot be sent to the pair before launch, so the pair never has LP supply here.
    function _graduate() internal {
        address token_ = token;
        IModelToken(token_).launch();

        IERC20 paca_ = paca;
        address pair_ = uniswapFactory.getPair(token_, address(paca_));
        if (pair_ == address(0)) pair_ = uniswapFactory.createPair(token_, address(paca_));
        address expected = IModelToken(token_).pair();
        if (pair_ != expected) revert PairMismatch(expected, pair_);
        if (IUniswapV2Pair(pair_).totalSupply() != 0) revert PairAlreadyHasLiquidity(pair_);

        address treasury = IModelFactory(factory).treasury();
        IUniswapV2Pair(pair_).skim(treasury);
        (uint256 tokenAmount, uint256 pacaAmount, uint256 toTreasury) = _poolAmounts(pair_, token_);

        state = State.Graduated;
        IERC20(token_).safeTransfer(pair_, tokenAmount);
        paca_.safeTransfer(pair_, pacaAmount);
        uint256 liquidity = IUniswapV2Pair(pair_).mint(DEAD);
        if (toTreasury > 0) paca_.safeTransfer(treasury, toTreasury);
        emit Graduated(pair_, tokenAmount, pacaAmount, liquidity, toTreasury);
    }

    /// @dev What to add so the pool ends at the curve's final price, given reserves already synced in the pair.
    function _poolAmounts(address pair_, address token_)
        internal
        view
        returns (uint256 tokenAmount, uint256 pacaAmount, uint256 toTreasury)
    {
        (uint112 reserve0, uint112 reserve1,) = IUniswapV2Pair(pair_).getReserves();
        (uint256 tokenReserve, uint256 pacaReserve) =
            token_ < address(paca) ? (uint256(reserve0), uint256(reserve1)) : (uint256(reserve1), uint256(reserve0));

        tokenAmount = liquidityReserve;
        uint256 raised = _virtualPaca - _initialVirtualPaca;
        uint256 pacaTarget = Math.mulDiv(tokenReserve + tokenAmount, _virtualPaca, _virtualToken);
        pacaAmount = pacaTarget > pacaReserve ? pacaTarget - pacaReserve : 0;
        if (pacaAmount > raised) pacaAmount = raised;
        // Uniswap's first mint needs both amounts > 0; only a donation >= the whole raise gets here.
        if (pacaAmount == 0) pacaAmount = 1;
        toTreasury = raised - pacaAmount;
    }

    // ---------------------------------------------------------------- views

    /// @inheritdoc IModelSale
    function quoteBuy(uint256 pacaIn) external view returns (uint256 tokensOut, uint256 pacaPaid, uint256 fee) {
        if (state != State.Open || pacaIn == 0) return (0, 0, 0);
        (tokensOut, pacaPaid, fee,,,) = _quoteBuy(pacaIn);
    }

    /// @inheritdoc IModelSale
    function quoteSell(uint256 tokenIn) external view returns (uint256 pacaOut, uint256 fee) {
        if (state != State.Open || tokenIn == 0) return (0, 0);
        (pacaOut, fee,) = _quoteSell(tokenIn);
    }

    /// @inheritdoc IModelSale
    function spotPrice() external view returns (uint256) {
        return Math.mulDiv(_virtualPaca, 1e18, _virtualToken);
    }

    /// @inheritdoc IModelSale
    function virtualReserves() external view returns (uint256, uint256) {
        return (_virtualPaca, _virtualToken);
    }

    /// @inheritdoc IModelSale
    function initialVirtualReserves() external view returns (uint256, uint256) {
        return (_initialVirtualPaca, _initialVirtualToken);
    }

    /// @inheritdoc IModelSale
    function realPacaReserve() public view returns (uint256) {
        return state == State.Graduated ? 0 : _virtualPaca - _initialVirtualPaca;
    }

    /// @inheritdoc IModelSale
    function tokensSold() public view returns (uint256) {
        return _initialVirtualToken - _virtualToken;
    }

    // ---------------------------------------------------------------- internals

    /// @dev All divisions round against the trader: the fee rounds up, the new token reserve rounds up.
    function _quoteBuy(uint256 pacaIn)
        internal
        view
        returns (
            uint256 tokensOut,
            uint256 pacaPaid,
            uint256 fee,
            uint256 newVirtualPaca,
            uint256 newVirtualToken,
            bool soldOut
        )
    {
        uint256 feeBps = tradeFeeBps;
        uint256 k = uint256(_initialVirtualPaca) * _initialVirtualToken;
        uint256 virtualPaca = _virtualPaca;
        uint256 virtualToken = _virtualToken;
        uint256 endVirtualToken = uint256(_initialVirtualToken) - curveSupply;

        fee = Math.mulDiv(pacaIn, feeBps, BPS, Math.Rounding.Ceil);
        newVirtualPaca = virtualPaca + (pacaIn - fee);
        newVirtualToken = Math.ceilDiv(k, newVirtualPaca);
        pacaPaid = pacaIn;

        if (newVirtualToken <= endVirtualToken) {
            // Sell out exactly: take only the PACA needed for the remaining curve supply.
            soldOut = true;
            newVirtualToken = endVirtualToken;
            newVirtualPaca = Math.ceilDiv(k, endVirtualToken);
            uint256 net = newVirtualPaca - virtualPaca;
            pacaPaid = Math.mulDiv(net, BPS, BPS - feeBps, Math.Rounding.Ceil);
            if (pacaPaid > pacaIn) pacaPaid = pacaIn;
            fee = pacaPaid - net;
        }
        tokensOut = virtualToken - newVirtualToken;
    }

    function _quoteSell(uint256 tokenIn) internal view returns (uint256 pacaOut, uint256 fee, uint256 newVirtualPaca) {
        uint256 virtualToken = _virtualToken;
        uint256 sold = uint256(_initialVirtualToken) - virtualToken;
        if (tokenIn > sold) revert InsufficientCurveLiquidity(tokenIn, sold);
        uint256 k = uint256(_initialVirtualPaca) * _initialVirtualToken;
        newVirtualPaca = Math.ceilDiv(k, virtualToken + tokenIn);
        uint256 grossOut = _virtualPaca - newVirtualPaca;
        fee = Math.mulDiv(grossOut, tradeFeeBps, BPS, Math.Rounding.Ceil);
        pacaOut = grossOut - fee;
    }

    function _payFee(uint256 fee) internal {
        if (fee == 0) return;
        uint256 protocolFee = (fee * protocolFeeShareBps) / BPS;
        uint256 creatorFee = fee - protocolFee;
        if (protocolFee > 0) paca.safeTransfer(IModelFactory(factory).treasury(), protocolFee);
        if (creatorFee > 0) paca.safeTransfer(creator, creatorFee);
    }
}
