"""What the route handlers share, kept on `app.state.basis`, and the dependencies that read it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials

from basis_strategy.api.schemas import ModeInfo
from basis_strategy.api.security import BEARER, TokenGuard

if TYPE_CHECKING:
    from basis_strategy.services.queue import BacktestService


@dataclass(frozen=True)
class ApiState:
    """The service the API is a shell over, the token guard and the mode catalogue."""

    service: BacktestService
    guard: TokenGuard
    modes: tuple[ModeInfo, ...]


def api_state(request: Request) -> ApiState:
    state: ApiState = request.app.state.basis
    return state


async def require_token(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(BEARER)],
) -> None:
    """Dependency of the mutating endpoints: 401 unless the bearer token matches (when set)."""
    api_state(request).guard.check(credentials)


State = Annotated[ApiState, Depends(api_state)]
