// SPDX-License-Identifier: MIT
pragma solidity 0.8.27;

import {Token} from "./Token.sol";

/// A liquid staking token for the test chain: ETH in, LST out at the protocol's rate (ETH per
/// LST, 18 decimals), which its owner sets hour by hour from the data. It answers both
/// weETH's `getRate()` and wstETH's `stEthPerToken()`. `deposit` mints (weETH-style);
/// `redeem` is the protocol's instant exit used by tests (the strategies exit through the DEX).
contract MockLST is Token {
    address public immutable owner;
    uint256 public rate;

    error NotOwner(address caller);
    error ZeroAmount();

    event RateSet(uint256 rate);

    constructor(string memory name_, string memory symbol_, uint256 rate_) Token(name_, symbol_, 18) {
        owner = msg.sender;
        rate = rate_;
    }

    function setRate(uint256 rate_) external {
        if (msg.sender != owner) revert NotOwner(msg.sender);
        rate = rate_;
        emit RateSet(rate_);
    }

    function getRate() external view returns (uint256) {
        return rate;
    }

    function stEthPerToken() external view returns (uint256) {
        return rate;
    }

    /// Mint LST for the ETH sent: floor(value * 1e18 / rate).
    function deposit() external payable returns (uint256 minted) {
        if (msg.value == 0) revert ZeroAmount();
        minted = (msg.value * 1e18) / rate;
        _mint(msg.sender, minted);
    }

    /// Burn `amount` LST for floor(amount * rate / 1e18) ETH.
    function redeem(uint256 amount) external returns (uint256 paid) {
        _burn(msg.sender, amount);
        paid = (amount * rate) / 1e18;
        (bool ok,) = msg.sender.call{value: paid}("");
        require(ok, "MockLST: ETH transfer failed");
    }

    receive() external payable {}
}
