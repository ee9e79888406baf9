// SPDX-License-Identifier: MIT
pragma solidity 0.8.27;

/// The minimal parts of AAVE v3's Pool this account calls.
interface IAavePool {
    function flashLoanSimple(
        address receiverAddress,
        address asset,
        uint256 amount,
        bytes calldata params,
        uint16 referralCode
    ) external;

    function getUserAccountData(address user)
        external
        view
        returns (
            uint256 totalCollateralBase,
            uint256 totalDebtBase,
            uint256 availableBorrowsBase,
            uint256 currentLiquidationThreshold,
            uint256 ltv,
            uint256 healthFactor
        );
}

interface IToken {
    function approve(address spender, uint256 amount) external returns (bool);
    function balanceOf(address account) external view returns (uint256);
}

/// The fund's on-chain account: it holds the wallet's tokens and the AAVE position, and only
/// its owner (the operator's key) can make it act. Every instruction is one transaction of
/// calls made by the account; a flash bundle runs its calls inside an AAVE flash loan. Either
/// way the transaction reverts as a whole unless every call succeeds and, at the end, the
/// account's health factor and loan-to-value are within the bounds the instruction gives, so
/// a bundle that would over-lever changes nothing on chain.
///
/// A call may spend "all of" a token that an earlier call made (an LST just minted, collateral
/// just withdrawn), whose exact amount the planner knows only to its rates' precision: with
/// `capToken` set, the amount word at byte `capOffset` of the call's data is lowered to the
/// account's balance of `capToken` when that balance falls short of it by at most `capSlack`
/// (a larger shortfall is left to fail).
contract BasisAccount {
    struct Call {
        address target;
        uint256 value;
        bytes data;
        address capToken;
        uint256 capOffset;
        uint256 capSlack;
    }

    address public immutable owner;
    IAavePool public immutable pool;
    bool private inFlash;

    error NotOwner(address caller);
    error NotPool(address caller);
    error UnexpectedFlash(address initiator);
    error CallFailed(uint256 index, bytes reason);
    error HealthFactorBelow(uint256 healthFactorWad, uint256 minHealthFactorWad);
    error LoanToValueAbove(uint256 ltvWad, uint256 maxLtvWad);

    constructor(address owner_, IAavePool pool_) {
        owner = owner_;
        pool = pool_;
    }

    receive() external payable {}

    modifier onlyOwner() {
        if (msg.sender != owner) revert NotOwner(msg.sender);
        _;
    }

    /// Make `calls` in order, then check the account's bounds (0 / 2**256-1: no bound).
    function execute(Call[] calldata calls, uint256 minHealthFactorWad, uint256 maxLtvWad)
        external
        payable
        onlyOwner
    {
        run(calls);
        check(minHealthFactorWad, maxLtvWad);
    }

    /// Flash-borrow `amount` of `asset` from the pool, make `calls` with it, repay it with the
    /// pool's premium (the pool pulls it), then check the bounds: one atomic transaction.
    function flashBundle(
        address asset,
        uint256 amount,
        Call[] calldata calls,
        uint256 minHealthFactorWad,
        uint256 maxLtvWad
    ) external onlyOwner {
        inFlash = true;
        pool.flashLoanSimple(address(this), asset, amount, abi.encode(calls), 0);
        inFlash = false;
        check(minHealthFactorWad, maxLtvWad);
    }

    /// AAVE's flash-loan callback (IFlashLoanSimpleReceiver).
    function executeOperation(
        address asset,
        uint256 amount,
        uint256 premium,
        address initiator,
        bytes calldata params
    ) external returns (bool) {
        if (msg.sender != address(pool)) revert NotPool(msg.sender);
        if (initiator != address(this) || !inFlash) revert UnexpectedFlash(initiator);
        run(abi.decode(params, (Call[])));
        IToken(asset).approve(address(pool), amount + premium);
        return true;
    }

    function run(Call[] memory calls) private {
        for (uint256 i = 0; i < calls.length; i++) {
            bytes memory data = calls[i].data;
            if (calls[i].capToken != address(0)) cap(data, calls[i]);
            (bool ok, bytes memory reason) = calls[i].target.call{value: calls[i].value}(data);
            if (!ok) revert CallFailed(i, reason);
        }
    }

    function cap(bytes memory data, Call memory call_) private view {
        uint256 held = IToken(call_.capToken).balanceOf(address(this));
        uint256 at = call_.capOffset;
        require(at + 32 <= data.length, "BasisAccount: cap offset outside the data");
        uint256 asked;
        assembly {
            asked := mload(add(add(data, 32), at))
        }
        if (held < asked && asked - held <= call_.capSlack) {
            assembly {
                mstore(add(add(data, 32), at), held)
            }
        }
    }

    function check(uint256 minHealthFactorWad, uint256 maxLtvWad) private view {
        (uint256 collateral, uint256 debt,,,, uint256 healthFactor) = pool.getUserAccountData(address(this));
        if (debt == 0) return;
        if (healthFactor < minHealthFactorWad) revert HealthFactorBelow(healthFactor, minHealthFactorWad);
        uint256 ltv = collateral == 0 ? type(uint256).max : (debt * 1e18) / collateral;
        if (ltv > maxLtvWad) revert LoanToValueAbove(ltv, maxLtvWad);
    }
}
