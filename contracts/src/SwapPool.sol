// SPDX-License-Identifier: MIT
pragma solidity 0.8.27;

interface IERC20Like {
    function transfer(address to, uint256 amount) external returns (bool);
    function transferFrom(address from, address to, uint256 amount) external returns (bool);
}

/// The test chain's DEX: it swaps at a price its owner sets per direction (units of `tokenOut`
/// per unit of `tokenIn`, 18 decimals, before the pool's fee), less the fee (bps), from
/// reserves it holds.
/// `address(0)` is native ETH. The strategies' DEX route runs through this interface; live it is
/// a router with the same `swap` shape. `minOut` protects the caller.
contract SwapPool {
    address public constant ETH = address(0);
    address public immutable owner;
    mapping(address => mapping(address => uint256)) public price;
    uint256 public feeBps;

    error NotOwner(address caller);
    error NoPrice(address tokenIn, address tokenOut);
    error BelowMinimum(uint256 amountOut, uint256 minOut);
    error WrongValue(uint256 sent, uint256 expected);

    event Swapped(address indexed trader, address tokenIn, address tokenOut, uint256 amountIn, uint256 amountOut);

    constructor() {
        owner = msg.sender;
    }

    receive() external payable {}

    function setPrice(address tokenIn, address tokenOut, uint256 price_) external {
        if (msg.sender != owner) revert NotOwner(msg.sender);
        price[tokenIn][tokenOut] = price_;
    }

    function setFee(uint256 feeBps_) external {
        if (msg.sender != owner) revert NotOwner(msg.sender);
        feeBps = feeBps_;
    }

    /// Amount out for `amountIn` (decimals adjusted by the price itself):
    /// floor(floor(in * price / 1e18) * (10000 - fee) / 10000).
    function quote(address tokenIn, address tokenOut, uint256 amountIn) public view returns (uint256) {
        uint256 p = price[tokenIn][tokenOut];
        if (p == 0) revert NoPrice(tokenIn, tokenOut);
        return ((amountIn * p) / 1e18) * (10000 - feeBps) / 10000;
    }

    function swap(address tokenIn, address tokenOut, uint256 amountIn, uint256 minOut)
        external
        payable
        returns (uint256 amountOut)
    {
        amountOut = quote(tokenIn, tokenOut, amountIn);
        if (amountOut < minOut) revert BelowMinimum(amountOut, minOut);
        if (tokenIn == ETH) {
            if (msg.value != amountIn) revert WrongValue(msg.value, amountIn);
        } else {
            if (msg.value != 0) revert WrongValue(msg.value, 0);
            require(IERC20Like(tokenIn).transferFrom(msg.sender, address(this), amountIn), "SwapPool: pull failed");
        }
        if (tokenOut == ETH) {
            (bool ok,) = msg.sender.call{value: amountOut}("");
            require(ok, "SwapPool: ETH transfer failed");
        } else {
            require(IERC20Like(tokenOut).transfer(msg.sender, amountOut), "SwapPool: pay failed");
        }
        emit Swapped(msg.sender, tokenIn, tokenOut, amountIn, amountOut);
    }
}
