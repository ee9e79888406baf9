"""`basis live start MODE --execution live` for a mode with an on-chain leg runs the on-chain
pre-flight against the chain its environment names (here a local anvil with the fund's
contracts): a wrong key is refused naming the check, a right one goes past every gate, and
the operator's key appears in nothing the command printed or wrote."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.chain.fund import OPERATOR_KEY, FundChain
from tests.chain.live_world import fund_env

from basis_strategy.core.secrets import encodings

OTHER_KEY = "0x7c852118294e51e653712a81e05800f419141751be58f605c371e15141b007a6"  # anvil #3


def live(tmp_path: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("BASIS_")}
    return subprocess.run(
        [sys.executable, "-m", "basis_strategy", "live", "start", "eth_leveraged",
         "--execution", "live", "--enable-live-trading", "--results-dir", str(tmp_path),
         "--set", "staking.rewards_mode=base_only"],
        capture_output=True, text=True, timeout=120, check=False,
        env={**clean, **env, "BASIS_LIVE_TRADING": "enabled"},
    )  # fmt: skip


def one_line(done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, lines
    return lines[0]


def assert_no_key(tmp_path: Path, done: subprocess.CompletedProcess[str], key: str) -> None:
    written = [p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()]
    for form in encodings(key) | encodings(key[2:]):
        assert form not in done.stdout and form not in done.stderr
        assert all(form.encode() not in blob for blob in written)


def test_the_on_chain_pre_flight_refuses_a_key_that_does_not_own_the_account(
    fund: FundChain, tmp_path: Path
) -> None:
    done = live(tmp_path, {**fund_env(fund), "BASIS_WALLET_PRIVATE_KEY": OTHER_KEY})
    line = one_line(done)
    assert "LT-003" in line and "is not the key's address" in line, line
    assert_no_key(tmp_path, done, OTHER_KEY)


def test_a_passing_on_chain_pre_flight_goes_past_every_gate(
    fund: FundChain, tmp_path: Path
) -> None:
    done = live(tmp_path, fund_env(fund))
    line = one_line(done)
    assert "eth_leveraged passed its pre-flight" in line, line
    assert_no_key(tmp_path, done, OPERATOR_KEY)
