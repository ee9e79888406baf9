"""Live venues behind the same `VenueInterface` as the simulated ones (ADR-012, issue 13).

- `cex.LiveCex`: one exchange account through a ccxt client (orders, fills, funding, snapshot);
- `dialects`: what differs per exchange behind ccxt (binanceusdm, bybit; okx untested): the
  query by client id, the funding sign, "already set" and duplicate-id answers, trade lists;
- `ccxt_orders`: ccxt answers and exceptions as order events (what proves what);
- `ccxt_calls`: waiting on a venue, retried reads, account set-up;
- `reconcile`: the venue's snapshot, its differences from what we expect, and the venue's
  fills our ledger does not hold (ADR-008).
"""
