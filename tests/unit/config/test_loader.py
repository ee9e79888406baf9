"""Configuration: every mode loads, precedence YAML < env < --set, and bad input is named."""

from __future__ import annotations

from pathlib import Path

import pytest

from basis_strategy.config.loader import load_run_config, parse_set
from basis_strategy.config.models import MODE_NAMES
from basis_strategy.core.errors import ConfigError

CONFIGS = Path(__file__).resolve().parents[3] / "configs"


@pytest.mark.parametrize("mode", MODE_NAMES)
def test_every_mode_config_loads_and_validates(mode: str) -> None:
    config = load_run_config(mode, env={}, configs_dir=CONFIGS)
    assert config.mode.mode == mode
    assert config.share_class.name == config.mode.share_class
    assert set(config.venues) == set(config.mode.venues)
    assert "alchemy" in config.venues


def test_hedged_staking_derives_margin_target_from_stake_allocation() -> None:
    config = load_run_config("usdt_market_neutral", env={}, configs_dir=CONFIGS)
    assert config.mode.hedge is not None
    assert config.mode.hedge.target == pytest.approx(1.0)  # (1 - 0.5) / 0.5
    assert config.mode.hedge.excess == pytest.approx(2.0)


def test_precedence_yaml_then_env_then_set() -> None:
    yaml_only = load_run_config("btc_basis", env={}, configs_dir=CONFIGS)
    env = {"BASIS_RESERVE_RATIO": "0.05", "BASIS_HEDGE__DELTA_TOLERANCE": "0.02"}
    from_env = load_run_config("btc_basis", env=env, configs_dir=CONFIGS)
    from_cli = load_run_config("btc_basis", ["reserve_ratio=0.1"], env=env, configs_dir=CONFIGS)
    assert yaml_only.mode.reserve_ratio == 0.0
    assert from_env.mode.reserve_ratio == 0.05
    assert from_env.mode.hedge is not None and from_env.mode.hedge.delta_tolerance == 0.02
    assert from_cli.mode.reserve_ratio == 0.1


def test_process_env_variables_are_not_config_keys() -> None:
    env = {"BASIS_DATA_DIR": "/nowhere", "BASIS_RESULTS_DIR": "/tmp", "PATH": "/bin"}
    assert load_run_config("pure_lending", env=env, configs_dir=CONFIGS).mode.mode == "pure_lending"


def test_parse_set_reads_yaml_scalars_and_nests() -> None:
    assert parse_set("hedge.allocation.binance=0.5") == (["hedge", "allocation", "binance"], 0.5)
    assert parse_set("costs.gas=false") == (["costs", "gas"], False)
    with pytest.raises(ConfigError, match="expected key=value"):
        parse_set("reserve_ratio")


@pytest.mark.parametrize(
    ("mode", "sets", "env", "field", "fragment"),
    [
        ("pure_lending", ["reserv_ratio=0.1"], {}, "reserv_ratio", "unknown key (value: 0.1)"),
        ("pure_lending", ["reserve_ratio=abc"], {}, "reserve_ratio", "'abc'"),
        ("pure_lending", ["reserve_ratio=0.9"], {}, "reserve_ratio", "0.9"),
        (
            "btc_basis",
            ["hedge.allocation.binance=0.3"],
            {},
            "hedge.allocation",
            "must sum to 1, was 0.9",
        ),
        ("btc_basis", ["hedge.margin_ratio_warning=0.15"], {}, "hedge", "out of order"),
        ("btc_basis", ["hedge.venues=[binance, bybit]"], {}, "hedge.allocation", "keys must equal"),
        ("btc_basis", ["hedge=null"], {}, "hedge", "required by mode btc_basis"),
        ("pure_lending", ["asset=ETH"], {}, "asset", "needs USDT"),
        ("pure_lending", ["start=2024-01-01T00:30:00Z"], {}, "start", "on the hour"),
        ("pure_lending", ["end=2023-01-01"], {}, "start", "must be before end"),
        ("eth_staking_only", ["staking.lst_type=wstETH"], {}, "staking.rewards_mode", "base_only"),
        ("eth_leveraged", ["leverage.ltv_warning=0.95"], {}, "leverage", "out of order"),
        (
            "eth_leveraged",
            ["hedge={venues: [binance], allocation: {binance: 1}, margin_ratio_target: 0.5}"],
            {},
            "hedge",
            "not allowed",
        ),
        (
            "pure_lending",
            [],
            {"BASIS_RESERVE_RATO": "1"},
            "BASIS_RESERVE_RATO (reserve_rato)",
            "unknown key",
        ),
        (
            "btc_basis",
            ["hedge.margin_ratio_critical=0.005", "hedge.margin_ratio_warning=0.3"],
            {},
            "hedge.margin_ratio_critical",
            "maintenance_margin_rate",
        ),
    ],
)
def test_bad_config_names_field_and_value(
    mode: str, sets: list[str], env: dict[str, str], field: str, fragment: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        load_run_config(mode, sets, env=env, configs_dir=CONFIGS)
    assert caught.value.field == field
    assert fragment in str(caught.value)
    assert caught.value.exit_code == 2


def test_lst_type_is_case_insensitive() -> None:
    config = load_run_config(
        "eth_staking_only", ["staking.lst_type=WEETH"], env={}, configs_dir=CONFIGS
    )
    assert config.mode.staking is not None and config.mode.staking.lst_type == "weETH"


def test_yaml_file_with_unknown_key(tmp_path: Path) -> None:
    text = (CONFIGS / "modes" / "pure_lending.yaml").read_text() + "\nleverag: {}\n"
    path = tmp_path / "mine.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match="leverag: unknown key"):
        load_run_config(str(path), env={}, configs_dir=CONFIGS)


def test_resolved_config_is_json_ready() -> None:
    resolved = load_run_config("eth_basis", env={}, configs_dir=CONFIGS).resolved()
    assert resolved["mode"]["hedge"]["allocation"] == {"binance": 0.4, "bybit": 0.3, "okx": 0.3}
    assert resolved["venues"]["bybit"]["perp_taker_fee"] == 0.00055


def test_process_settings_and_credentials_are_not_config_keys() -> None:
    env = {
        "BASIS_DATABASE_URL": "postgresql+psycopg://u:secret@h/db",
        "BASIS_API_TOKEN": "t0ken",
        "BASIS_TEST_DATABASE_URL": "sqlite://",
        "BASIS_BINANCE_API_KEY": "k",
        "BASIS_BINANCE_API_SECRET": "s",
        "BASIS_RESERVE_RATIO": "0.05",
    }
    config = load_run_config("btc_basis", env=env)
    assert config.mode.reserve_ratio == 0.05
