"""A local anvil node for the on-chain tests, started from the npm package in contracts/.

Why the binary and not `npx anvil`: the npx wrapper is a Node process that leaves its child (the
real node) running as a zombie when killed; starting the platform binary directly lets `stop()`
kill exactly the process we started, by its PID, and reap it.

Block timestamps follow the wall clock plus whatever `increase_time` added, so tests that need
an exact time read it from the mined block rather than from the host clock.
"""

from __future__ import annotations

import platform
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType
from typing import Any

from web3 import HTTPProvider, Web3
from web3.types import RPCEndpoint

REPO_ROOT = Path(__file__).resolve().parents[2]
NODE_MODULES = REPO_ROOT / "contracts" / "node_modules"
CHAIN_ID = 31337
BLOCK_GAS_LIMIT = 30_000_000
START_TIMEOUT_S = 10.0

_NPM_ARCH = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64"}


def anvil_binary() -> Path:
    """Path of the anvil binary installed by `npm ci` in contracts/, for this machine's CPU."""
    machine = platform.machine().lower()
    arch = _NPM_ARCH.get(machine)
    if arch is None:
        raise RuntimeError(f"no anvil npm package for CPU {machine!r} (known: amd64, arm64)")
    binary = NODE_MODULES / "@foundry-rs" / f"anvil-linux-{arch}" / "bin" / "anvil"
    if not binary.is_file():
        raise RuntimeError(f"anvil binary missing at {binary}: run `cd contracts && npm ci`")
    return binary


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now (anvil binds it a few ms later)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class Anvil:
    """One anvil process on a free local port; a context manager that always stops it.

    The default dev accounts (10 000 ETH each, unlocked) are used: `w3.eth.accounts[0]` is the
    market admin by convention of the deployer, the others are users.
    """

    def __init__(self, *extra_args: str) -> None:
        """`extra_args`: more anvil options (e.g. `--timestamp` for a chain in the past)."""
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        # stderr goes to a file, not a pipe: an unread pipe could fill and block the node
        self._stderr = tempfile.TemporaryFile()  # noqa: SIM115 - closed by stop()
        self._process = subprocess.Popen(
            [
                str(anvil_binary()),
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--chain-id",
                str(CHAIN_ID),
                "--gas-limit",
                str(BLOCK_GAS_LIMIT),
                "--silent",
                *extra_args,
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=self._stderr,
        )
        self.pid = self._process.pid
        # Only the chain id is cached (web3 asks for it ~4 times per transaction); blocks are
        # not: after evm_revert the same block number holds a different block.
        provider = HTTPProvider(
            self.url,
            request_kwargs={"timeout": 30},
            cache_allowed_requests=True,
            cacheable_requests={RPCEndpoint("eth_chainId")},
        )
        self.w3 = Web3(provider)
        try:
            self._wait_ready()
        except BaseException:
            self.stop()
            raise

    def _wait_ready(self) -> None:
        """Poll eth_chainId until the node answers; fail with anvil's stderr if it never does."""
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(
                    f"anvil exited with code {self._process.returncode}: {self._stderr_text()}"
                )
            try:
                if self.w3.eth.chain_id == CHAIN_ID:
                    return
            except Exception:  # connection refused until anvil listens
                time.sleep(0.02)
        raise RuntimeError(
            f"anvil did not answer on {self.url} within {START_TIMEOUT_S:.0f} s: "
            f"{self._stderr_text()}"
        )

    def _stderr_text(self) -> str:
        self._stderr.seek(0)
        return self._stderr.read().decode(errors="replace").strip() or "(no stderr)"

    def stop(self) -> None:
        """Kill the node by its PID and reap it, so no zombie is left."""
        if self._process.poll() is None:
            self._process.kill()
        self._process.wait(timeout=10)
        self._stderr.close()

    def __enter__(self) -> Anvil:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def accounts(self) -> list[str]:
        """The unlocked dev accounts: 0 administers the market, the others are users."""
        return [str(address) for address in self.w3.eth.accounts]

    def rpc(self, method: str, params: list[Any] | None = None) -> Any:
        """One raw JSON-RPC call; raises with the node's message on an error answer."""
        response = self.w3.provider.make_request(method, params or [])  # type: ignore[arg-type]
        if "error" in response:
            raise RuntimeError(f"{method} failed: {response['error']}")
        return response["result"]

    def snapshot(self) -> str:
        """Snapshot the whole chain state; `revert` consumes it (take a new one per test)."""
        snapshot_id: str = self.rpc("evm_snapshot")
        return snapshot_id

    def revert(self, snapshot_id: str) -> None:
        """Restore the state of `snapshot_id` (which anvil then forgets)."""
        if self.rpc("evm_revert", [snapshot_id]) is not True:
            raise RuntimeError(f"evm_revert({snapshot_id}) refused: unknown snapshot")

    def increase_time(self, seconds: int) -> int:
        """Move the clock forward and mine one block at the new time; returns its timestamp."""
        self.rpc("evm_increaseTime", [seconds])
        return self.mine()

    def mine(self) -> int:
        """Mine one empty block; returns its timestamp."""
        self.rpc("evm_mine")
        timestamp: int = self.w3.eth.get_block("latest")["timestamp"]
        return timestamp
