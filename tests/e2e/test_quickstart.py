"""The README's commands as written (issues 6 and 12): the quick start on the system's externally
managed python3 (PEP 668), and the fast subset with no service at all.

The quick start runs on a copy of the repository (without virtual environments, results or git
state) in a temporary folder beside `shared/data`, a link to the data folder; with the system's
python3 first on PATH, no virtual environment active and no BASIS_* variables:

- the first command's install part creates `.venv` and installs from the package registries;
  run again, it reuses `.venv` without reinstalling;
- its backtest part runs inside a new network namespace (`unshare -rn`: only a loopback
  interface, which is down) with a fresh HOME, so it can reach neither a data folder nor the
  network;
- the second command, on the run store's PostgreSQL tests only (the whole suite is what runs
  this test), finds the data beside the repository and starts and names PostgreSQL itself.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DATA_DIR = Path(os.environ.get("BASIS_DATA_DIR") or REPO.parent / "shared" / "data")
IGNORED = shutil.ignore_patterns(
    ".venv*", ".git", "results", "*.egg-info", "__pycache__", ".*cache"
)
SYSTEM_PYTHON = Path("/usr/bin/python3")
STDLIB = "import sysconfig; print(sysconfig.get_path('stdlib'))"
# Run as `python SANDBOX COMMAND...` inside `unshare --map-root-user --net --mount`: brings the
# namespace's loopback up (SIOCSIFFLAGS: IFF_UP | IFF_LOOPBACK | IFF_RUNNING), hides Chromium
# behind /dev/null, then executes COMMAND. Only loopback servers the tests start are reachable.
SANDBOX = """
import fcntl, os, socket, struct, subprocess, sys
with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
    fcntl.ioctl(sock, 0x8914, struct.pack("16sH22x", b"lo", 0x1 | 0x8 | 0x40))
if os.path.exists("/usr/bin/chromium"):
    subprocess.run(["mount", "--bind", "/dev/null", "/usr/bin/chromium"], check=True)
os.execvp(sys.argv[1], sys.argv[1:])
"""


def readme_block(section: str) -> list[str]:
    """The lines of the first fenced bash block under the README's `## {section}`."""
    text = (REPO / "README.md").read_text(encoding="utf-8")
    body = text.split(f"\n## {section}\n", 1)[1].split("\n## ", 1)[0]
    block = re.search(r"```bash\n(.*?)```", body, re.S)
    assert block is not None, f"README {section} has no bash block"
    return [line for line in block.group(1).splitlines() if line.strip()]


def quick_start_env() -> dict[str, str]:
    """This environment with the system python3 first on PATH and no virtual environment."""
    dropped = ("BASIS_", "PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "PIP_BREAK_SYSTEM_PACKAGES")
    env = {k: v for k, v in os.environ.items() if not k.startswith(dropped) and k != "PYTHON"}
    env["PATH"] = f"{SYSTEM_PYTHON.parent}{os.pathsep}{env['PATH']}"
    return env


def run(
    command: str | list[str], cwd: Path, env: dict[str, str], timeout_s: float
) -> subprocess.CompletedProcess[str]:
    """Run `command` (a string: through /bin/sh) and assert that it succeeded."""
    ran = subprocess.run(
        command,
        shell=isinstance(command, str),
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout_s,
    )
    assert ran.returncode == 0, f"{command}\n{ran.stdout[-3000:]}\n{ran.stderr[-3000:]}"
    return ran


def test_ci_runs_the_readme_commands_exactly() -> None:
    first, tests = readme_block("Quick start")
    ci = (REPO / ".ci" / "run").read_text(encoding="utf-8").splitlines()
    assert first in ci and tests in ci


@pytest.mark.services  # the package registries
def test_quick_start_on_an_externally_managed_python(tmp_path: Path) -> None:
    first, tests = readme_block("Quick start")
    install, backtest = (part.strip() for part in first.split("&&"))
    assert backtest.startswith(".venv/bin/basis backtest") and "--data-dir" not in backtest
    env = quick_start_env()
    assert shutil.which("python3", path=env["PATH"]) == str(SYSTEM_PYTHON)
    stdlib = run([str(SYSTEM_PYTHON), "-c", STDLIB], tmp_path, env, 60).stdout.strip()
    assert (Path(stdlib) / "EXTERNALLY-MANAGED").is_file(), f"{SYSTEM_PYTHON} is not PEP 668"

    repo = tmp_path / "repo"
    shutil.copytree(REPO, repo, ignore=IGNORED)
    (tmp_path / "shared").mkdir()
    (tmp_path / "shared" / "data").symlink_to(DATA_DIR)

    run(install, repo, env, 1200)
    assert f"home = {SYSTEM_PYTHON.parent}" in (repo / ".venv" / "pyvenv.cfg").read_text()
    stamp = repo / ".venv" / "installed.cksum"
    installed_ns = stamp.stat().st_mtime_ns
    run(install, repo, env, 120)
    assert stamp.stat().st_mtime_ns == installed_ns, "the second install installed again"

    home = tmp_path / "home"
    home.mkdir()
    offline = ["unshare", "--map-root-user", "--net", "sh", "-c", backtest]
    ran = run(offline, repo, {**env, "HOME": str(home)}, 600)
    assert "SYNTHETIC" in ran.stderr and "base" in ran.stderr
    run_dir = repo / ran.stdout.strip().splitlines()[-1]
    summary = json.loads((run_dir / "summary.json").read_text(encoding="utf-8"))
    assert summary["data_origin"]["synthetic"] is True
    assert summary["data_origin"]["scenario"] == "base"
    assert summary["hours"] > 1000 and summary["reconciliation_residual"] is not None
    assert (run_dir / "index.html").is_file()
    assert list((home / ".cache" / "basis-strategy" / "synth").iterdir())

    store_tests = "tests/unit/services/test_store.py -m services -p no:cacheprovider"
    ran = run(f"{tests} {store_tests}", repo, env, 600)
    assert re.search(r"\b\d+ passed\b", ran.stdout), ran.stdout[-3000:]


def test_without_venv_support_root_or_sudo_install_names_the_package_to_install(
    tmp_path: Path,
) -> None:
    """A python3 whose venv cannot bootstrap pip (Debian without python3.X-venv), run by a user
    who is not root (a user namespace maps us to uid 1000) and has no sudo: one line naming the
    package and the command to run."""
    shutil.copytree(REPO / "scripts", tmp_path / "repo" / "scripts")
    (tmp_path / "no_ensurepip").mkdir()
    (tmp_path / "no_ensurepip" / "ensurepip.py").write_text("raise ImportError('removed')\n")
    tools = tmp_path / "bin"  # what the script needs on PATH, and no sudo
    tools.mkdir()
    for tool in ("apt-get", "dirname", "id"):
        (tools / tool).symlink_to(shutil.which(tool) or tool)
    env = {"PATH": str(tools), "PYTHON": str(SYSTEM_PYTHON)}
    env["PYTHONPATH"] = str(tmp_path / "no_ensurepip")
    as_user = [shutil.which("unshare") or "unshare", "--user", "--map-user=1000", "scripts/install"]
    ran = subprocess.run(
        as_user, cwd=tmp_path / "repo", env=env, capture_output=True, text=True, timeout=60
    )
    minor = run([str(SYSTEM_PYTHON), "-c", "import sys; print(sys.version_info[1])"],
                tmp_path, {}, 60).stdout.strip()  # fmt: skip
    assert ran.returncode == 1, ran.stdout + ran.stderr
    assert ran.stderr == (
        "scripts/install: missing system packages; run as root: "
        f"apt-get update && apt-get install -y python3.{minor}-venv\n"
    )
    assert not (tmp_path / "repo" / ".venv").exists()


def test_the_fast_subset_needs_no_database_no_network_and_no_browser(tmp_path: Path) -> None:
    (command,) = readme_block("Tests")
    python, *args = shlex.split(command)
    assert python == ".venv/bin/python" and "not services" in args
    env = {k: v for k, v in os.environ.items() if k != "BASIS_TEST_DATABASE_URL"}
    args += ["-p", "no:cacheprovider", "--basetemp", str(tmp_path / "basetemp")]
    sandbox = ["unshare", "--map-root-user", "--net", "--mount", sys.executable, "-c", SANDBOX]
    ran = subprocess.run(
        [*sandbox, sys.executable, *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert ran.returncode == 0, ran.stdout[-5000:] + ran.stderr[-3000:]
    assert re.search(r"\b\d{3,} passed\b", ran.stdout), ran.stdout[-2000:]


def test_the_sandbox_has_no_network_database_or_browser() -> None:
    """The guards above are real: inside them a TCP connection to a public address and to the
    PostgreSQL port fail at once, and Chromium cannot start."""
    probe = """
import socket, subprocess
for address in (("1.1.1.1", 443), ("127.0.0.1", 5432)):
    try:
        socket.create_connection(address, timeout=5)
        raise SystemExit(f"connected to {address}")
    except OSError as error:
        print(address, error)
try:
    started = subprocess.run(["/usr/bin/chromium", "--version"], capture_output=True)
    assert started.returncode != 0, started.stdout
except PermissionError as error:
    print("chromium:", error)
"""
    sandbox = ["unshare", "--map-root-user", "--net", "--mount", sys.executable, "-c", SANDBOX]
    ran = subprocess.run(
        [*sandbox, sys.executable, "-c", probe], capture_output=True, text=True, timeout=60
    )
    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert "Network is unreachable" in ran.stdout and "Connection refused" in ran.stdout
