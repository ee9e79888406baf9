"""The README's quick start on a fresh virtual environment (issue 6): its first command installs
the package and runs a backtest with no data folder and no network.

The repository is copied (without virtual environments, results or git state) into a temporary
folder, a new venv is created there, and the README's first command is run as written: the
install part with the package registries, the backtest part inside a new network namespace
(`unshare -rn`: only a loopback interface, which is down), with a fresh HOME and no BASIS_*
variables, so it can reach neither a data folder nor the network.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import venv
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
IGNORED = shutil.ignore_patterns(
    ".venv*", ".git", "results", "*.egg-info", "__pycache__", ".*cache"
)


def quick_start_commands() -> list[str]:
    """The lines of the README's first fenced bash block under '## Quick start'."""
    text = (REPO / "README.md").read_text(encoding="utf-8")
    section = text.split("## Quick start", 1)[1]
    block = re.search(r"```bash\n(.*?)```", section, re.S)
    assert block is not None, "README quick start has no bash block"
    return [line for line in block.group(1).splitlines() if line.strip()]


def test_quick_start_first_command_needs_no_data_and_no_network(tmp_path: Path) -> None:
    first, tests = quick_start_commands()
    assert tests == "python -m pytest"
    install, backtest = (part.strip() for part in first.split("&&"))
    assert install.startswith("python3 -m pip install")
    assert backtest.startswith("basis backtest") and "--data-dir" not in backtest

    repo = tmp_path / "repo"
    shutil.copytree(REPO, repo, ignore=IGNORED)
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=True)
    home = tmp_path / "home"
    home.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("BASIS_")}
    env["PATH"] = f"{env_dir / 'bin'}{os.pathsep}{env['PATH']}"
    env.pop("PYTHONPATH", None)
    env["VIRTUAL_ENV"] = str(env_dir)

    installed = subprocess.run(
        install, shell=True, cwd=repo, env=env, capture_output=True, text=True, timeout=900
    )
    assert installed.returncode == 0, installed.stderr[-3000:]

    env["HOME"] = str(home)
    offline = ["unshare", "--map-root-user", "--net", "bash", "-c", backtest]
    ran = subprocess.run(offline, cwd=repo, env=env, capture_output=True, text=True, timeout=600)
    assert ran.returncode == 0, ran.stderr[-3000:]
    assert "SYNTHETIC" in ran.stderr and "base" in ran.stderr
    run_dir = repo / ran.stdout.strip().splitlines()[-1]
    summary = json.loads((run_dir / "summary.json").read_text(encoding="utf-8"))
    assert summary["data_origin"]["synthetic"] is True
    assert summary["data_origin"]["scenario"] == "base"
    assert summary["hours"] > 1000 and summary["reconciliation_residual"] is not None
    assert (run_dir / "index.html").is_file()
    assert list((home / ".cache" / "basis-strategy" / "synth").iterdir())


def test_the_network_namespace_has_no_network(tmp_path: Path) -> None:
    """The guard above is real: inside it a TCP connection to a public address fails at once."""
    probe = "import socket; socket.create_connection(('1.1.1.1', 443), timeout=5)"
    ran = subprocess.run(
        ["unshare", "--map-root-user", "--net", sys.executable, "-c", probe],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert ran.returncode != 0
    assert "Network is unreachable" in ran.stderr or "OSError" in ran.stderr
