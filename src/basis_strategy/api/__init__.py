"""REST API and web UI over the backtest service (issue 5): `create_app()`; `basis serve`."""

from basis_strategy.api.app import create_app

__all__ = ["create_app"]
