"""Live venues behind the same `VenueInterface` as the simulated ones (ADR-012, issue 13).

- `cex.LiveCex`: one exchange account through a ccxt client (orders, fills, funding, snapshot);
- `ccxt_orders`: ccxt answers and exceptions as order events (what proves what);
- `reconcile`: the venue's snapshot and its differences from what we expect (ADR-008).
"""
