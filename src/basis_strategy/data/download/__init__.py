"""`basis data download`: fetch the real history into the data-folder layout (issue 6).

CEX spot and perp OHLCV and funding through ccxt (`cex`), AAVE v3 reserves, LST rates and gas
through web3.py against an archive node (`chain`). Every file is resumable: `manifest.json`
records, per file, the ranges already fetched, so a second run fetches only what is missing.
"""
