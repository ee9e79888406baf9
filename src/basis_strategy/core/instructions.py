"""Instructions (orders, immutable) and what executing one produced (conventions 4).

Every instruction names the strategy action that asked for it (`entry_full`, `entry_partial`,
`exit_full`, `exit_partial`, `sell_dust`, or `flow` for deposits and withdrawals) and the
trigger (`initial`, `deposit`, `margin_warning:bybit`, `delta`, ...). Amounts are in token
units of the asset named; `math.inf` means "all of it".
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from basis_strategy.venues.transfers import TransferTicket

Action = Literal["entry_full", "entry_partial", "exit_full", "exit_partial", "sell_dust", "flow"]
FlowKind = Literal["deposit", "withdrawal", "full_redemption"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Instruction:
    """Base of every order. `venue` routes it (ADR-001 tight loop)."""

    venue: str
    action: Action
    trigger: str


@dataclass(frozen=True, slots=True, kw_only=True)
class ReceiveDeposit(Instruction):
    """A depositor's capital lands in the wallet (share-class currency); `in_kind`: other
    assets landing with it, (asset, amount) (a live USDT run's gas ETH, `Flows.in_kind`)."""

    asset: str
    amount: float
    in_kind: tuple[tuple[str, float], ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class PayWithdrawal(Instruction):
    """Pay a redemption out of the wallet (share-class currency)."""

    asset: str
    amount: float


@dataclass(frozen=True, slots=True, kw_only=True)
class SwapOnDex(Instruction):
    """Sell `sell_amount` of `sell` for `buy` on a DEX at the reference price less costs."""

    sell: str
    buy: str
    sell_amount: float


@dataclass(frozen=True, slots=True, kw_only=True)
class ApproveToken(Instruction):
    """ERC-20 approval for a protocol (once per token and spender)."""

    token: str
    spender: str


@dataclass(frozen=True, slots=True, kw_only=True)
class SupplyToAave(Instruction):
    asset: str
    amount: float


@dataclass(frozen=True, slots=True, kw_only=True)
class WithdrawFromAave(Instruction):
    asset: str
    amount: float


@dataclass(frozen=True, slots=True, kw_only=True)
class Transfer(Instruction):
    """Move `amount` of `asset` from `venue` (wallet or a CEX) to `destination`.

    From the wallet: an ERC-20 transfer paid in gas. From a CEX: a withdrawal whose flat
    fee is taken out of the amount sent.
    """

    destination: str
    asset: str
    amount: float


@dataclass(frozen=True, slots=True, kw_only=True)
class BuySpot(Instruction):
    """Spend `quote_amount` USDT on `base` spot at a CEX."""

    base: str
    quote_amount: float


@dataclass(frozen=True, slots=True, kw_only=True)
class SellSpot(Instruction):
    """Sell `base_amount` of `base` spot for USDT at a CEX."""

    base: str
    base_amount: float


@dataclass(frozen=True, slots=True, kw_only=True)
class TradePerp(Instruction):
    """Change a linear perp position by `size_delta` base units (negative sells)."""

    base: str
    size_delta: float


@dataclass(frozen=True, slots=True, kw_only=True)
class Stake(Instruction):
    """Mint the venue's LST with `amount` wallet ETH at the oracle rate ρ (`u = amount / ρ`)."""

    amount: float


@dataclass(frozen=True, slots=True, kw_only=True)
class RequestUnstake(Instruction):
    """Queue `amount` LST units for redemption at ρ: the ETH is `{venue}:Pending:ETH` until
    the claim, `unstake_delay_days` later, moves it to the wallet (domain 4.2 route (b))."""

    amount: float


@dataclass(frozen=True, slots=True, kw_only=True)
class Wrap(Instruction):
    """Wallet ETH -> WETH (`amount` > 0) or WETH -> ETH (`amount` < 0), 1:1."""

    amount: float


@dataclass(frozen=True, slots=True, kw_only=True)
class SetEmode(Instruction):
    """Enable AAVE's ETH-correlated e-mode category (once; domain 4.1)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Borrow(Instruction):
    """Borrow `amount` of `asset` from AAVE (variable rate) into the wallet."""

    asset: str
    amount: float


@dataclass(frozen=True, slots=True, kw_only=True)
class Repay(Instruction):
    """Repay `amount` of `asset` debt from the wallet (`math.inf`: all of it)."""

    asset: str
    amount: float


@dataclass(frozen=True, slots=True, kw_only=True)
class FlashBundle(Instruction):
    """One atomic transaction (ADR-020, domain 10): flash-borrow `amount` of `asset`, run
    `steps` in order, repay `amount × (1 + fee)`. All or nothing: if any step would fail
    (a borrow above max LTV, a withdrawal leaving HF < 1, the flash not repaid), nothing is
    applied. The steps pay no gas of their own; the bundle pays `gas_units[gas_op]` once.
    `kind` names the sequence: entry, incremental_entry, deleverage, relever, partial_exit,
    full_exit."""

    kind: str
    asset: str
    amount: float
    steps: tuple[Instruction, ...]
    gas_op: str


# --- the fund's own books: handled by the execution manager, never routed to a venue --------


@dataclass(frozen=True, slots=True, kw_only=True)
class FundInstruction(Instruction):
    """An order to the fund's own books (shares, flow and rebalance records; issue 11)."""

    venue: str = "fund"


@dataclass(frozen=True, slots=True, kw_only=True)
class StartFlow(FundInstruction):
    """A deposit or withdrawal begins: the instructions up to `EndGroup` are its own, and
    with `cost_allocation: investor` their costs are charged to its investor. `amount`:
    requested, share-class units (> 0 deposit, < 0 withdrawal; NaN when given in shares);
    `shares`: shares asked to redeem (`math.inf`: all of them; 0 when given as an amount)."""

    kind: FlowKind
    amount: float
    shares: float = 0.0


@dataclass(frozen=True, slots=True, kw_only=True)
class StartRebalance(FundInstruction):
    """An optional action begins (issue 11): its expected figures, share-class units."""

    amount: float
    expected_cost: float
    expected_benefit: float
    horizon_days: float


@dataclass(frozen=True, slots=True, kw_only=True)
class EndGroup(FundInstruction):
    """The flow or rebalance started last is complete: settle its shares and costs."""


@dataclass(frozen=True, slots=True, kw_only=True)
class RefuseFlow(FundInstruction):
    """A flow the fund cannot honour (e.g. a withdrawal above equity): nothing is done and
    the refusal is recorded."""

    amount: float
    reason: str


@dataclass(frozen=True, slots=True)
class Leg:
    """One position change an execution produced, with the P&L it carries.

    `pnl_native` is in units of `pnl_asset` (e.g. a fee in USDT, gas in ETH); the event logger
    converts it to share-class units with the hour's prices. `detail` is appended to the
    event's note (e.g. a reward payout's period and KING value).
    """

    instrument: str
    amount: float
    event_type: str
    price: float = float("nan")
    pnl_component: str = ""
    pnl_native: float = 0.0
    pnl_asset: str = ""
    entry_after: float | None = None
    detail: str = ""


@dataclass(frozen=True, slots=True)
class ExecutionResult:
    """What a venue did for one instruction: the legs, in order; `ticket`: a withdrawal still
    on its way to the destination (a live transfer, `venues/transfers.py`), else None."""

    legs: tuple[Leg, ...] = field(default_factory=tuple)
    ticket: TransferTicket | None = None
