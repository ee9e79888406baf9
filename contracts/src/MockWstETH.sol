// SPDX-License-Identifier: MIT
pragma solidity 0.8.27;

import {MockStETH} from "./MockStETH.sol";
import {Token} from "./Token.sol";

/// Lido's wstETH for the test chain: it wraps stETH at the protocol's rate (stETH per wstETH,
/// 18 decimals), which its owner sets hour by hour from the data, with Lido's own math:
/// wrap gives floor(stETH * 1e18 / rate) wstETH, unwrap floor(wstETH * rate / 1e18) stETH.
/// It deploys its own `MockStETH`, which does not rebase: when an unwrap owes more stETH than
/// the wrapper holds (the rate rose since the wrap), it mints the difference, the rewards a
/// rebase would have added to its balance. The strategies exit through the DEX; unwrap is here
/// for completeness and is tested at the contract level.
contract MockWstETH is Token {
    address public immutable owner;
    MockStETH public immutable stETH;
    uint256 public rate;

    error NotOwner(address caller);
    error ZeroAmount();

    event RateSet(uint256 rate);

    constructor(uint256 rate_) Token("Wrapped liquid staked Ether 2.0", "wstETH", 18) {
        owner = msg.sender;
        stETH = new MockStETH();
        rate = rate_;
    }

    function setRate(uint256 rate_) external {
        if (msg.sender != owner) revert NotOwner(msg.sender);
        rate = rate_;
        emit RateSet(rate_);
    }

    /// stETH per wstETH (Lido's name); `getRate` is the same, as weETH names it.
    function stEthPerToken() external view returns (uint256) {
        return rate;
    }

    function getRate() external view returns (uint256) {
        return rate;
    }

    function tokensPerStEth() external view returns (uint256) {
        return (1e18 * 1e18) / rate;
    }

    function getWstETHByStETH(uint256 stETHAmount) public view returns (uint256) {
        return (stETHAmount * 1e18) / rate;
    }

    function getStETHByWstETH(uint256 wstETHAmount) public view returns (uint256) {
        return (wstETHAmount * rate) / 1e18;
    }

    /// Pull `stETHAmount` stETH (approved beforehand) and mint its wstETH.
    function wrap(uint256 stETHAmount) external returns (uint256 minted) {
        if (stETHAmount == 0) revert ZeroAmount();
        minted = getWstETHByStETH(stETHAmount);
        _mint(msg.sender, minted);
        require(stETH.transferFrom(msg.sender, address(this), stETHAmount), "wstETH: pull failed");
    }

    /// Burn `wstETHAmount` wstETH and pay its stETH.
    function unwrap(uint256 wstETHAmount) external returns (uint256 paid) {
        if (wstETHAmount == 0) revert ZeroAmount();
        paid = getStETHByWstETH(wstETHAmount);
        _burn(msg.sender, wstETHAmount);
        uint256 held = stETH.balanceOf(address(this));
        if (held < paid) stETH.mintRewards(address(this), paid - held);
        require(stETH.transfer(msg.sender, paid), "wstETH: pay failed");
    }
}
