// SPDX-License-Identifier: MIT
pragma solidity 0.8.27;

import {Token} from "./Token.sol";

/// Lido's stETH for the test chain: `submit` mints stETH 1:1 for the ETH sent (Lido's own
/// `submit` returns the shares minted; here shares and stETH are one, so it returns the stETH).
/// It does not rebase: the staking rewards that Lido adds to every balance are here only in the
/// wrapper's rate (`MockWstETH`), which mints, as they are needed, the rewards a rebase would
/// have added to its own balance (`mintRewards`, its owner's only).
contract MockStETH is Token {
    address public immutable owner;

    error NotOwner(address caller);
    error ZeroAmount();

    event Submitted(address indexed sender, uint256 amount, address referral);

    constructor() Token("Liquid staked Ether 2.0", "stETH", 18) {
        owner = msg.sender;
    }

    /// Stake the ETH sent: mint as much stETH (1:1).
    function submit(address referral) external payable returns (uint256 minted) {
        if (msg.value == 0) revert ZeroAmount();
        minted = msg.value;
        _mint(msg.sender, minted);
        emit Submitted(msg.sender, msg.value, referral);
    }

    /// The rewards a rebase would have added to `to`'s balance (the wrapper's, module doc).
    function mintRewards(address to, uint256 amount) external {
        if (msg.sender != owner) revert NotOwner(msg.sender);
        _mint(to, amount);
    }
}
