"""Our contracts' committed build (`venues/live/contracts.json`) is what solc-js makes of
`contracts/src` today: a source edited without rebuilding fails here."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_committed_build_equals_a_fresh_compile() -> None:
    fresh = subprocess.run(
        ["node", str(ROOT / "contracts" / "compile.mjs")],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    ).stdout
    committed = (ROOT / "src/basis_strategy/venues/live/contracts.json").read_text()
    assert json.loads(fresh) == json.loads(committed)
    assert fresh == committed  # byte for byte, as the build writes it
    built = json.loads(committed)["contracts"]
    assert set(built) == {"BasisAccount", "MockLST", "MockStETH", "MockWstETH", "SwapPool"}
    assert all(len(c["bytecode"]) > 1000 for c in built.values())
