"""Live and paper trading state (issue 13): what must be right before any order is sent.

- `client_ids`: deterministic client order ids valid on Binance, Bybit and OKX;
- `orders`: the order state machine (AMBIGUOUS and LOST are real states) and the order record;
- `retry`: what to do after querying an order of unknown outcome by its client id;
- `ledger`: fills and funding keyed for idempotence; positions are sums of fills;
- `store`: SQLAlchemy tables so a restart after `kill -9` reloads all of it;
- `limits`, `trading_state`, `reducing`: risk limits, ACTIVE / REDUCING / HALTED and the gate
  that lets only risk-reducing instructions through;
- `heartbeat`, `cycle_clock`, `alerts`: health per strategy, the next cycle time, and alerts
  coded from `core/log_codes.py`.
- `preflight`: enable and credential gates, and the one venue caller (ccxt clients passed in).

Nothing here talks to a venue or reads a clock: callers pass venue answers and timestamps in.
"""
