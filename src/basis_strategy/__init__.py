"""basis-strategy: backtest, paper-trade and live-trade crypto yield strategies."""

__version__ = "0.1.0"
