// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

/// @title IModelSale
/// @notice The Initial Model Offering: a virtual-reserve constant-product bonding curve that sells
///         a model's curve allocation for PACA and, when the curve is sold out ("Singularity"),
///         seeds a Uniswap V2 MODEL/PACA pool at the curve's final price and burns the LP tokens.
/// @dev Pricing uses internal reserves only: virtualPaca * virtualToken >= k at all times, with every
///      rounding in the sale's favour. realPaca = virtualPaca - initialVirtualPaca is the PACA the
///      curve holds. The reserves at creation are chosen so that selling `curveSupply` tokens raises
///      exactly `graduationThreshold` PACA and the final curve price equals
///      graduationThreshold / liquidityReserve, the pool's starting price.
interface IModelSale {
    enum State {
        Uninitialized,
        Open, // curve trading
        Closed, // curve sold out, graduation pending (permissionless retry: graduate())
        Graduated // pool seeded, LP burnt, curve closed for good
    }

    struct SaleInit {
        address token;
        address creator;
        uint256 curveSupply; // tokens sold on the curve
        uint256 liquidityReserve; // tokens added to the pool at graduation
        uint256 graduationThreshold; // PACA (net of fees) raised when the curve is sold out
        uint16 tradeFeeBps; // fee on every buy and sell, in PACA
        uint16 protocolFeeShareBps; // part of the fee to the treasury; the rest to the creator
    }

    /// @notice One event per curve trade. `pacaAmount` is what the trader paid (buy) or received (sell),
    ///         fees excluded from neither side: buy: paid = curve + fee; sell: received = curve - fee.
    ///         `virtualPaca`/`virtualToken` are the reserves after the trade (price = virtualPaca/virtualToken).
    event Trade(
        address indexed trader,
        address indexed recipient,
        bool indexed isBuy,
        uint256 pacaAmount,
        uint256 tokenAmount,
        uint256 fee,
        uint256 virtualPaca,
        uint256 virtualToken
    );
    /// @notice The pool was seeded and the LP tokens sent to the dead address.
    /// @param pacaToTreasury donated/surplus PACA that could not go into the pool at the curve price.
    event Graduated(
        address indexed pair,
        uint256 tokenAmount,
        uint256 pacaAmount,
        uint256 liquidity,
        uint256 pacaToTreasury
    );
    /// @notice Graduation reverted inside the buy that closed the curve; anyone can retry with graduate().
    event GraduationFailed(bytes reason);

    error DeadlineExpired(uint256 deadline);
    error SaleNotOpen(State state);
    error NotGraduationPending(State state);
    error ZeroAmount();
    error SlippageExceeded(uint256 amountOut, uint256 minAmountOut);
    /// @notice A sell larger than what the curve has sold (e.g. the creator allocation) cannot be absorbed.
    error InsufficientCurveLiquidity(uint256 tokenIn, uint256 sold);
    error OnlySelf();
    /// @notice The closing buy did not forward enough gas to graduate; resend it with more gas.
    error GraduationOutOfGas();
    /// @notice The Uniswap factory returned a pair other than the one the token guards.
    error PairMismatch(address expected, address actual);
    /// @notice Unreachable by construction (the token refuses transfers to the pair before launch).
    error PairAlreadyHasLiquidity(address pair);
    error InvalidSaleParams();

    function initialize(SaleInit calldata init) external;

    /// @notice Buys tokens with up to `pacaIn` PACA (pulled from the caller, approve first). The buy
    ///         that sells out the curve is capped at the remaining supply and only the PACA needed is
    ///         pulled (the excess is never taken); it graduates in the same transaction.
    function buy(uint256 pacaIn, uint256 minTokensOut, address recipient, uint256 deadline)
        external
        returns (uint256 tokensOut, uint256 pacaPaid);

    /// @notice Sells `tokenIn` tokens (no approval needed: the token lets its sale pull from the seller).
    function sell(uint256 tokenIn, uint256 minPacaOut, address recipient, uint256 deadline)
        external
        returns (uint256 pacaOut);

    /// @notice Permissionless retry of graduation after the curve sold out.
    function graduate() external;

    /// @dev Entry used with try/catch by the closing buy; only callable by the sale itself.
    function completeGraduation() external;

    function quoteBuy(uint256 pacaIn) external view returns (uint256 tokensOut, uint256 pacaPaid, uint256 fee);
    function quoteSell(uint256 tokenIn) external view returns (uint256 pacaOut, uint256 fee);
    /// @notice Marginal price in PACA base units per 1e18 token base units.
    function spotPrice() external view returns (uint256);
    function state() external view returns (State);
    function token() external view returns (address);
    function creator() external view returns (address);
    /// @notice The ModelFactory (source of the protocol treasury address).
    function factory() external view returns (address);
    function virtualReserves() external view returns (uint256 virtualPaca, uint256 virtualToken);
    function initialVirtualReserves() external view returns (uint256 virtualPaca, uint256 virtualToken);
    function realPacaReserve() external view returns (uint256);
    function tokensSold() external view returns (uint256);
    function curveSupply() external view returns (uint128);
    function liquidityReserve() external view returns (uint128);
    function tradeFeeBps() external view returns (uint16);
    function protocolFeeShareBps() external view returns (uint16);
}
