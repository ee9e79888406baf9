"""The environment's venue credentials for the three fakes (what `basis live` reads)."""

from __future__ import annotations

from tests.fakes import binance_usdm, bybit_v5, okx_v5

CREDENTIALS = {
    "BASIS_BINANCE_API_KEY": binance_usdm.API_KEY,
    "BASIS_BINANCE_API_SECRET": binance_usdm.API_SECRET,
    "BASIS_BYBIT_API_KEY": bybit_v5.API_KEY,
    "BASIS_BYBIT_API_SECRET": bybit_v5.API_SECRET,
    "BASIS_OKX_API_KEY": okx_v5.API_KEY,
    "BASIS_OKX_API_SECRET": okx_v5.API_SECRET,
    "BASIS_OKX_API_PASSPHRASE": okx_v5.PASSPHRASE,
}
