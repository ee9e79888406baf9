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


SHOCK = "shocks=[{{series: [{series}], start: 2024-06-02T00:00:00Z, end: 2024-06-02T05:00:00Z, kind: {kind}, value: {value}}}]"  # noqa: E501
WINDOW = ["start=2024-06-01T00:00:00Z", "end=2024-06-08T00:00:00Z"]


@pytest.mark.parametrize(
    ("mode", "sets", "env", "field", "fragment"),
    [
        # capital bounds of the share class (configs/share_classes/*.yaml)
        ("btc_basis", ["initial_capital=1"], {}, "initial_capital",
         "must be at least 10,000 USDT for share class usdt_stable (the entry's gas and fees), "
         "was 1"),
        ("eth_leveraged", ["initial_capital=1.5"], {}, "initial_capital", "at least 2 ETH"),
        ("pure_lending", ["initial_capital=2e10"], {}, "initial_capital", "at most 10,000,000,000"),
        ("pure_lending", ["initial_capital=1e300"], {}, "initial_capital", "less than or equal"),
        ("pure_lending", ["flows=[{at: 2024-06-02T00:00:00Z, amount: 1e10}]"], {}, "flows",
         "initial capital plus deposits must be at most"),
        # a number is a number: no booleans, no quoted text, no fractions for counts
        ("pure_lending", ["initial_capital=true"], {}, "initial_capital", "valid number"),
        ("pure_lending", ["initial_capital='100000'"], {}, "initial_capital", "valid number"),
        ("pure_lending", ["initial_capital=nan"], {}, "initial_capital", "valid number"),
        ("pure_lending", ["costs.gas=1"], {}, "costs.gas", "valid boolean"),
        ("pure_lending", ["data.max_ffill_hours=3.0"], {}, "data.max_ffill_hours", "integer"),
        ("pure_lending", ["data.max_ffill_hours=true"], {}, "data.max_ffill_hours", "integer"),
        ("pure_lending", ["start=1704067200"], {}, "start", "ISO 8601"),
        ("pure_lending", ["start=true"], {}, "start", "ISO 8601"),
        ("btc_basis", ["hedge.allocation={binance: .nan, bybit: 0.5, okx: 0.5}"], {},
         "hedge.allocation.binance", "not a finite number, was '.nan'"),
        ("pure_lending", [], {"BASIS_RESERVE_RATIO": ""}, "BASIS_RESERVE_RATIO (reserve_ratio)",
         "valid number (value: '')"),
        ("pure_lending", ["reserve_ratio="], {}, "reserve_ratio", "valid number (value: '')"),
        # shocks: finite and sensible for the series they touch
        ("pure_lending", [*WINDOW, SHOCK.format(series="price:ETH", kind="set", value=0)], {},
         "shocks.0.value", "a set of price:ETH must be > 0, was 0"),
        ("pure_lending", [*WINDOW, SHOCK.format(series="'funding:*:ETH'", kind="set", value=2)],
         {}, "shocks.0.value", "within [-1, 1]"),
        ("pure_lending", [*WINDOW, SHOCK.format(series="price:ETH", kind="move", value=500)], {},
         "shocks.0.value", "<= 100"),
        ("pure_lending", [*WINDOW, SHOCK.format(series="price:ETH", kind="set", value=".nan")],
         {}, "shocks.0.value", "not a finite number"),
        # lists and key paths
        ("pure_lending", ["venues=[" + ", ".join(["aave_v3"] * 30) + "]"], {}, "venues",
         "at most 20 items"),
        ("pure_lending", [".=1"], {}, "--set", "key must be names"),
        ("pure_lending", ["a..b=1"], {}, "--set", "was 'a..b'"),
        ("pure_lending", ["réserve=1"], {}, "--set", "was 'réserve'"),
        ("pure_lending", [], {"BASIS___X": "1"}, "BASIS___X", "key must be names"),
        ("pure_lending", [], {"BASIS_": "1"}, "BASIS_", "key must be names"),
    ],
)  # fmt: skip
def test_numbers_and_keys_are_refused_by_name(
    mode: str, sets: list[str], env: dict[str, str], field: str, fragment: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        load_run_config(mode, sets, env=env, configs_dir=CONFIGS)
    assert caught.value.field == field, caught.value
    assert fragment in str(caught.value)
    assert "\n" not in str(caught.value)


def test_capital_at_the_share_class_bounds_is_accepted() -> None:
    at_min = load_run_config("btc_basis", ["initial_capital=1e4"], env={}, configs_dir=CONFIGS)
    assert at_min.mode.initial_capital == 10_000.0  # `1e4` is a number (YAML 1.2)
    at_max = load_run_config("eth_leveraged", ["initial_capital=1e7"], env={}, configs_dir=CONFIGS)
    assert at_max.share_class.min_initial_capital == 2.0
    assert at_max.share_class.max_capital == at_max.mode.initial_capital == 1e7


def test_a_funding_shock_may_be_negative_and_a_move_may_fall() -> None:
    sets = [
        *WINDOW,
        SHOCK.format(series="'funding:*:ETH'", kind="set", value=-0.001),
    ]
    config = load_run_config("pure_lending", sets, env={}, configs_dir=CONFIGS)
    assert config.mode.shocks[0].value == -0.001
