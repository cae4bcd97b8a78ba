// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {Initializable} from "@openzeppelin/contracts/proxy/utils/Initializable.sol";
import {ReentrancyGuardTransient} from "@openzeppelin/contracts/utils/ReentrancyGuardTransient.sol";
import {SafeCast} from "@openzeppelin/contracts/utils/math/SafeCast.sol";
import {IModelToken} from "./interfaces/IModelToken.sol";
import {IModelSale} from "./interfaces/IModelSale.sol";

/// @title ModelToken
/// @notice Fixed-supply ERC-20 of one model, with PACA revenue shared to holders in O(1).
/// @dev Deployed once as an implementation by the factory; every model is an EIP-1167 clone.
///      PACA and the vault are immutables of the implementation, shared by all clones.
///
///      Revenue accounting ("magnified dividends" with a linear drip):
///        revenuePerShare(t) = stored + (min(t, periodFinish) - lastUpdate) * rewardRate / shareSupply
///        claimable(a)       = (balance(a) * revenuePerShare(t) + correction(a)) / SCALE
///      A transfer between two accruing holders leaves shareSupply unchanged, so the accumulator is
///      not written: only the two corrections change (2 storage writes over a plain ERC-20).
///      Moving tokens in or out of an excluded address (sale, pair, dead, zero, the vault and this token)
///      checkpoints first. Those addresses cannot call claim(), so revenue accrued to them would stay
///      here forever; excluded, their share goes to the holders who can.
///      Storage is packed so a transfer reads 4 extra slots and a notification touches 2 (drip, supply+accumulator).
contract ModelToken is ERC20, Initializable, ReentrancyGuardTransient, IModelToken {
    using SafeERC20 for IERC20;
    using SafeCast for uint256;

    /// @dev Fixed-point scale of revenuePerShare and rewardRate. Each accumulator update loses less
    ///      than shareSupply / SCALE base units (< 1e-9 PACA for a 1e9-token supply).
    uint256 internal constant SCALE = 1e18;
    /// @dev Below one whole token of accruing supply, dripped revenue is carried to the next
    ///      notification instead of inflating revenuePerShare (which bounds it by lifetime revenue).
    uint256 internal constant MIN_SHARE_SUPPLY = 1e18;
    address internal constant DEAD = 0x000000000000000000000000000000000000dEaD;

    IERC20 public immutable paca;
    address public immutable vault;

    string private _tokenName;
    string private _tokenSymbol;
    // slot: sale hooks
    address public sale;
    bool public launched;
    address public pair;
    // slot: drip (rewardRate is SCALE-d PACA per second)
    uint144 private _rewardRate;
    uint40 private _lastUpdate;
    uint40 private _periodFinish;
    uint32 public dripPeriod;
    // slot: accruing supply + accumulator (<= lifetime revenue in base units, as SCALE == MIN_SHARE_SUPPLY)
    uint96 private _shareSupply;
    uint152 private _revenuePerShare;
    bool private _hasCarry;
    // revenue that dripped while nobody accrued (base units); only read when _hasCarry
    uint256 private _carry;
    mapping(address account => int256) private _corrections;

    constructor(IERC20 paca_, address vault_) ERC20("", "") {
        paca = paca_;
        vault = vault_;
        _disableInitializers();
    }

    /// @inheritdoc IModelToken
    function initialize(TokenInit calldata init) external initializer {
        if (
            init.sale == address(0) || init.pair == address(0) || init.creator == address(0)
                || init.creatorAllocation > init.totalSupply || init.totalSupply > type(uint96).max
                || init.dripPeriod == 0
        ) revert InvalidInit();
        _tokenName = init.name;
        _tokenSymbol = init.symbol;
        sale = init.sale;
        pair = init.pair;
        dripPeriod = init.dripPeriod;
        // Minting goes through _update; shareSupply starts at zero and the creator's mint adds to it.
        _mint(init.sale, init.totalSupply - init.creatorAllocation);
        if (init.creatorAllocation > 0) _mint(init.creator, init.creatorAllocation);
    }

    /// @notice The model's creator, stored once per model in its sale (which pays it trade fees).
    function creator() external view returns (address) {
        return IModelSale(sale).creator();
    }

    function name() public view override returns (string memory) {
        return _tokenName;
    }

    function symbol() public view override returns (string memory) {
        return _tokenSymbol;
    }

    // ---------------------------------------------------------------- revenue

    /// @inheritdoc IModelToken
    /// @dev Restarts the drip: undripped remainder + carry + `amount` spread over a fresh period.
    ///      The period is one settlement epoch, so a settlement arrives about when the previous drip
    ///      ends and the remainder it stretches is small (a settlement 10 minutes early into a 1-hour
    ///      drip stretches 1/6 of one epoch's revenue). With a period of many epochs every settlement
    ///      would stretch most of what is undripped again, and payouts would decay exponentially
    ///      instead of ending. The vault's ModelSettled event is the record of the notification (no
    ///      event here, for gas).
    function notifyRevenue(uint256 amount) external {
        if (msg.sender != vault) revert NotRevenueVault(msg.sender);
        _checkpoint();
        uint256 period = dripPeriod;
        uint256 finish = _periodFinish;
        uint256 pending = amount;
        if (_hasCarry) {
            pending += _carry;
            _carry = 0;
            _hasCarry = false;
        }
        pending *= SCALE;
        if (block.timestamp < finish) pending += (finish - block.timestamp) * _rewardRate;
        _rewardRate = (pending / period).toUint144();
        _lastUpdate = uint40(block.timestamp);
        _periodFinish = uint40(block.timestamp + period);
    }

    /// @inheritdoc IModelToken
    /// @dev No exclusion check here (it costs two cold reads): none of the excluded addresses can call
    ///      this. The sale, the vault and this token have no code path to it, a Uniswap V2 pair cannot
    ///      make arbitrary calls, and nobody holds a key for the dead or zero address. claimable() still
    ///      reports 0 for them.
    function claim() external nonReentrant returns (uint256 amount) {
        amount = _claimable(msg.sender, _currentRevenuePerShare());
        if (amount == 0) return 0;
        _corrections[msg.sender] -= int256(amount * SCALE);
        paca.safeTransfer(msg.sender, amount);
        emit Claimed(msg.sender, amount);
    }

    /// @inheritdoc IModelToken
    function claimable(address account) external view returns (uint256) {
        if (_isExcluded(account)) return 0;
        return _claimable(account, _currentRevenuePerShare());
    }

    /// @inheritdoc IModelToken
    function revenuePerShare() external view returns (uint256) {
        return _currentRevenuePerShare();
    }

    /// @inheritdoc IModelToken
    function shareSupply() external view returns (uint256) {
        return _shareSupply;
    }

    /// @inheritdoc IModelToken
    function isExcluded(address account) external view returns (bool) {
        return _isExcluded(account);
    }

    /// @notice Drip state for dashboards: SCALE-d (1e18) PACA per second, last accrual, end of the drip,
    ///         and revenue carried because nobody accrued.
    function dripState()
        external
        view
        returns (uint256 rewardRate, uint40 lastUpdate, uint40 periodFinish, uint256 carried)
    {
        return (_rewardRate, _lastUpdate, _periodFinish, _carry);
    }

    // ---------------------------------------------------------------- sale hooks

    /// @inheritdoc IModelToken
    function launch() external {
        if (msg.sender != sale) revert NotSale(msg.sender);
        if (!launched) {
            launched = true;
            emit Launched(pair);
        }
    }

    /// @dev The sale pulls the seller's tokens in `sell` without a prior approval.
    function _spendAllowance(address owner, address spender, uint256 value) internal override {
        if (spender == sale) return;
        super._spendAllowance(owner, spender, value);
    }

    // ---------------------------------------------------------------- transfer hook

    function _update(address from, address to, uint256 value) internal override {
        address pair_ = pair;
        address sale_ = sale;
        if (to == pair_ && !launched) revert TransferToPairBeforeLaunch();
        super._update(from, to, value);

        bool fromExcluded = from == address(0) || from == sale_ || from == pair_ || from == DEAD
            || from == address(this) || from == vault;
        bool toExcluded =
            to == address(0) || to == sale_ || to == pair_ || to == DEAD || to == address(this) || to == vault;
        if (fromExcluded && toExcluded) return;

        uint256 rps;
        if (fromExcluded != toExcluded) {
            rps = _checkpoint();
            // Balances are bounded by totalSupply <= type(uint96).max (checked at initialize).
            _shareSupply = fromExcluded ? _shareSupply + uint96(value) : _shareSupply - uint96(value);
        } else {
            rps = _currentRevenuePerShare();
        }
        if (rps == 0) return;
        int256 magnified = int256(value * rps);
        if (!fromExcluded) _corrections[from] += magnified;
        if (!toExcluded) _corrections[to] -= magnified;
    }

    // ---------------------------------------------------------------- internals

    function _isExcluded(address account) internal view returns (bool) {
        return account == sale || account == pair || account == DEAD || account == address(0)
            || account == address(this) || account == vault;
    }

    function _claimable(address account, uint256 rps) internal view returns (uint256) {
        int256 accumulated = int256(balanceOf(account) * rps) + _corrections[account];
        return accumulated > 0 ? uint256(accumulated) / SCALE : 0;
    }

    function _currentRevenuePerShare() internal view returns (uint256) {
        uint256 finish = _periodFinish;
        uint256 until = block.timestamp < finish ? block.timestamp : finish;
        uint256 last = _lastUpdate;
        uint256 supply = _shareSupply;
        if (until <= last || supply < MIN_SHARE_SUPPLY) return _revenuePerShare;
        return _revenuePerShare + ((until - last) * _rewardRate) / supply;
    }

    /// @dev Writes the accumulator up to now and returns it.
    function _checkpoint() internal returns (uint256 rps) {
        uint256 finish = _periodFinish;
        uint256 until = block.timestamp < finish ? block.timestamp : finish;
        uint256 last = _lastUpdate;
        rps = _revenuePerShare;
        if (until > last) {
            uint256 dripped = (until - last) * _rewardRate;
            uint256 supply = _shareSupply;
            if (supply < MIN_SHARE_SUPPLY) {
                _carry += dripped / SCALE;
                _hasCarry = true;
            } else {
                rps += dripped / supply;
                _revenuePerShare = rps.toUint152();
            }
            _lastUpdate = uint40(until);
        }
    }
}
