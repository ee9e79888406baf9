"""A data folder loaded into a database reads back exactly as the folder (issue 6 scope 4).

Round trips run on SQLite and PostgreSQL (`database_url`, tests/conftest.py): the same frame
of strings as `read_table`, the same reader values and errors, pattern lookup as `Path.glob`,
atomic reloads, failures that leave the previous load, and the `BASIS_DATA_MODE` selection.
"""

from __future__ import annotations

import os
import re
import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa

from basis_strategy.config.loader import load_run_config
from basis_strategy.core.errors import ConfigError, DataError, DataFileError, EmptyDataFileError
from basis_strategy.data import requirements as req
from basis_strategy.data.db import DEFAULT_DATA_DB_URL, DatabaseData, load_folder
from basis_strategy.data.db.schema import MAX_NAME, column_names, table_name
from basis_strategy.data.sources._common import locate, read_json, read_table
from basis_strategy.data.sources.aave import read_aave_reserve_params
from basis_strategy.data.sources.funding import read_okx_daily_funding
from basis_strategy.data.sources.ohlcv import read_ohlcv_open
from basis_strategy.data.sources.oracle import read_oracle
from basis_strategy.data.store import FolderData, glob_match, pattern_parts
from basis_strategy.data.stored import StoredFile
from basis_strategy.services.backtest import open_data
from basis_strategy.services.queue import worker_data

DATA_DIR = Path(
    os.environ.get("BASIS_DATA_DIR")
    or Path(__file__).resolve().parents[3].parent / "shared" / "data"
)
OKX = "market_data/okx/funding_rates/daily"
OKX_HEADER = "instrument,contract_type,funding_rate,real_funding_rate,funding_time,date\n"
FILES = {
    # exact decimal text, a quoted comma, empty cells, a blank line inside, blank lines at the end
    "prices/spot_1h_a.csv": (
        "timestamp,open,note\n"
        '2024-01-01T00:00:00Z,0.000100000000000000005,"a, quoted"\n'
        "\n"
        "2024-01-01T01:00:00Z,1e-7,\n"
        "2024-01-01T02:00:00Z,3.10,x\n"
        "\n\n"
    ),
    # a repeated and a blank header cell, a short row, CRLF line ends
    "prices/odd.csv": "a,b,a,A,\r\n1,2,3,4,5\r\n6,7\r\n",
    "oracle/weETH_ETH_oracle_x.csv": (
        "# source: AAVE oracle\n# unit: ETH\n"
        "timestamp,oracle_price_eth\n"
        "2024-01-01 00:00:00+00:00,1.0512\n2024-01-01 01:00:00+00:00,1.0513\n"
    ),
    "params/aave_params.csv": (
        "\ufeff,WETH,USDT\nLTV,80.50%,75.00%\nLiquidation Threshold,83.00%,78.00%\n"
        "Liquidation Bonus,5.00%,4.50%\nReserve Factor,15.00%,10.00%\n"
    ),
    "bad/number.csv": "timestamp,open\n2024-01-01T00:00:00Z,1\n2024-01-01T01:00:00Z,abc\n",
    "bad/malformed.csv": "a,b\n1,2\n3,4,5\n",
    "bad/empty.csv": "",
    "bad/header_only.csv": "timestamp,open\n",
    f"{OKX}/okx_funding_rates_2024-05-01.csv": OKX_HEADER
    + "ETH-USDT-SWAP,SWAP,0.1,0.0001,2024-05-01 08:00:00+00:00,2024-05-01\n\n"
    + "BTC-USDT-SWAP,SWAP,0.2,0.0002,2024-05-01 08:00:00+00:00,2024-05-01\n",
    f"{OKX}/okx_funding_rates_2024-05-02.csv": OKX_HEADER
    + "ETH-USDT-SWAP,SWAP,0.1,-0.00003,2024-05-02 00:00:00+00:00,2024-05-02\n",
    "risk/params.json": '{"emode": {"ltv_limits": {"weETH_WETH": 0.93}}, "n": 1.5}',
    "risk/broken.json": '{\n  "a": 1,\n  "b": \n}',
    "README.md": "# data\n",
    "manifest.json": '{"synthetic": true, "scenario": "base", "seed": 7, "other": 1}',
}
TABLES = [  # (file, comment, encoding) as the readers read them
    ("prices/spot_1h_a.csv", None, "utf-8"),
    ("prices/odd.csv", None, "utf-8"),
    ("oracle/weETH_ETH_oracle_x.csv", "#", "utf-8"),
    ("params/aave_params.csv", None, "utf-8-sig"),
    (f"{OKX}/okx_funding_rates_2024-05-01.csv", None, "utf-8"),
]


def write_folder(folder: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(text.encode("utf-8"))
    return folder


def sqlite_url(path: Path) -> str:
    return sa.URL.create("sqlite", database=str(path)).render_as_string()


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    return write_folder(tmp_path / "data", FILES)


@pytest.fixture
def loaded(folder: Path, database_url: str) -> Iterator[DatabaseData]:
    """FILES loaded into a fresh SQLite file or PostgreSQL schema, opened for reading."""
    load_folder(folder, database_url)
    data = DatabaseData(database_url)
    yield data
    data.close()


def stored(data: DatabaseData, relative: str) -> StoredFile:
    ref = data.locate(relative)
    assert isinstance(ref, StoredFile)
    return ref


def same_error(from_file: DataFileError, from_db: DataFileError) -> None:
    """The same problem at the same line; only the way the file is named differs."""
    assert type(from_db) is type(from_file)
    assert from_db.line == from_file.line
    assert str(from_db).split(": ", 1)[1] == str(from_file).split(": ", 1)[1]


def caught(read: Callable[[], object]) -> DataFileError:
    with pytest.raises(DataFileError) as error:
        read()
    return error.value


# --- the same cells, values and errors ------------------------------------------------------


@pytest.mark.parametrize(("name", "comment", "encoding"), TABLES)
def test_a_stored_csv_reads_as_the_same_frame_of_strings(
    loaded: DatabaseData, folder: Path, name: str, comment: str | None, encoding: str
) -> None:
    frame, first_line = read_table(folder / name, [], comment=comment, encoding=encoding)
    again, again_line = read_table(stored(loaded, name), [], comment=comment, encoding=encoding)
    pd.testing.assert_frame_equal(again, frame)
    assert again_line == first_line
    assert list(again.dtypes) == list(frame.dtypes)


def test_cells_keep_their_exact_source_text(loaded: DatabaseData) -> None:
    frame, first_line = read_table(stored(loaded, "prices/spot_1h_a.csv"), ["open"])
    assert frame["open"].tolist() == ["0.000100000000000000005", "", "1e-7", "3.10"]
    assert frame["note"].tolist() == ["a, quoted", "", "", "x"]
    assert first_line == 2
    odd, _ = read_table(stored(loaded, "prices/odd.csv"), [])
    assert list(odd.columns) == ["a", "b", "a.1", "A", "Unnamed: 4"]
    assert odd.values.tolist() == [["1", "2", "3", "4", "5"], ["6", "7", "", "", ""]]


def test_readers_give_the_same_values(loaded: DatabaseData, folder: Path) -> None:
    oracle = "oracle/weETH_ETH_oracle_x.csv"
    pd.testing.assert_series_equal(
        read_oracle(stored(loaded, oracle)), read_oracle(folder / oracle)
    )
    params = "params/aave_params.csv"
    assert read_aave_reserve_params(stored(loaded, params)) == read_aave_reserve_params(
        folder / params
    )
    okx = loaded.folder(OKX)
    assert okx is not None
    for instrument in ("ETH-USDT-SWAP", "BTC-USDT-SWAP"):
        pd.testing.assert_series_equal(
            read_okx_daily_funding(okx, instrument),
            read_okx_daily_funding(folder / OKX, instrument),
        )


@pytest.mark.parametrize(
    ("name", "columns"),
    [
        ("bad/malformed.csv", []),
        ("bad/empty.csv", []),
        ("bad/header_only.csv", ["open"]),
        ("prices/odd.csv", ["timestamp"]),
    ],
)
def test_a_bad_file_fails_the_same_way(
    loaded: DatabaseData, folder: Path, name: str, columns: list[str]
) -> None:
    from_file = caught(lambda: read_table(folder / name, columns))
    from_db = caught(lambda: read_table(stored(loaded, name), columns))
    same_error(from_file, from_db)
    if name == "bad/header_only.csv":
        assert isinstance(from_db, EmptyDataFileError)


def test_a_bad_cell_names_the_database_the_file_and_the_line(
    loaded: DatabaseData, folder: Path
) -> None:
    error = caught(lambda: read_ohlcv_open(stored(loaded, "bad/number.csv")))
    same_error(caught(lambda: read_ohlcv_open(folder / "bad/number.csv")), error)
    text = str(error)
    assert error.line == 3 and "line 3: column 'open': not a number: 'abc'" in text
    assert "#bad/number.csv" in text
    assert re.search(r"sqlite:///.*\.sqlite#|postgresql\+psycopg://", text), text


def test_the_okx_reader_checks_rows_as_the_csv_module_splits_them(
    tmp_path: Path, database_url: str
) -> None:
    """A short row is refused on its physical line; a BOM hides the first header cell."""
    short = OKX_HEADER + "ETH-USDT-SWAP,SWAP\n"
    bom = "\ufeff" + OKX_HEADER + "ETH-USDT-SWAP,SWAP,0.1,0.0001,2024-05-01 08:00:00Z,x\n"
    for text in (short, bom):
        folder = write_folder(tmp_path / str(len(text)), {f"{OKX}/okx_funding_rates_x.csv": text})
        load_folder(folder, database_url)
        data = DatabaseData(database_url)
        okx = data.folder(OKX)
        assert okx is not None
        same_error(
            caught(lambda f=folder: read_okx_daily_funding(f / OKX, "ETH-USDT-SWAP")),
            caught(lambda o=okx: read_okx_daily_funding(o, "ETH-USDT-SWAP")),
        )
        data.close()


def test_json_and_text_documents(loaded: DatabaseData, folder: Path) -> None:
    assert read_json(stored(loaded, "risk/params.json")) == read_json(folder / "risk/params.json")
    broken = "risk/broken.json"
    same_error(
        caught(lambda: read_json(folder / broken)),
        caught(lambda: read_json(stored(loaded, broken))),
    )
    assert loaded.text("README.md") == "# data\n"
    assert loaded.origin() == FolderData(folder).origin()
    assert loaded.origin() == {"synthetic": True, "scenario": "base", "seed": 7}


def test_a_file_that_is_not_utf8_fails_when_read_not_when_loaded(
    tmp_path: Path, database_url: str
) -> None:
    folder = tmp_path / "data"
    (folder / "x").mkdir(parents=True)
    (folder / "x/latin1.csv").write_bytes("a,b\n1,caf\xe9\n".encode("latin-1"))
    (folder / "x/ok.csv").write_text("a\n1\n", encoding="utf-8")
    report = load_folder(folder, database_url)
    assert report.files == 2 and report.tables == 1 and report.rows == 1
    assert len(report.problems) == 1
    assert report.problems[0].startswith("x/latin1.csv: not valid utf-8 text: ")
    data = DatabaseData(database_url)
    same_error(
        caught(lambda: read_table(folder / "x/latin1.csv", [])),
        caught(lambda: read_table(stored(data, "x/latin1.csv"), [])),
    )
    data.close()


def test_comment_lines_are_only_skipped_by_readers_that_skip_them(loaded: DatabaseData) -> None:
    oracle = stored(loaded, "oracle/weETH_ETH_oracle_x.csv")
    error = caught(lambda: read_table(oracle, ["timestamp"]))
    assert "starts with 2 comment line(s)" in str(error)


# --- finding files --------------------------------------------------------------------------


def every_requirements_pattern() -> list[str]:
    """Every file or folder pattern requirements.py can ask for."""
    sources = [req.ETH_USD.sources, req.BTC_USD.sources, req.GAS_PRICE.sources]
    patterns = [s.pattern for group in sources for s in group]
    for venue in ("binance", "bybit", "okx"):
        for base in ("BTC", "ETH"):
            patterns += [req.perp_source(venue, base).pattern]
            patterns += [req.funding_source(venue, base).pattern]
    for asset in ("USDT", "WETH", "weETH", "wstETH"):
        patterns.append(req.aave_rates_pattern(asset))
    for lst in ("weETH", "wstETH"):
        series = req.lst_series(lst)
        patterns += [series.oracle.pattern, series.peg.pattern]
    for token in ("EIGEN", "ETHFI"):
        patterns.append(req.token_price_series(token).pool.pattern)
    constants = (
        req.EMODE_PARAMS,
        req.RESERVE_PARAMS,
        req.EIGEN_DISTRIBUTIONS,
        req.ETHFI_TOPUPS,
        req.SEASONAL_DROPS,
        req.EETH_REWARD_APY,
        req.SUSDE_APY,
    )
    return patterns + [source.pattern for source in constants]


@pytest.fixture(scope="module")
def replica(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, DatabaseData]]:
    """Empty files at every path of the real data folder, loaded into SQLite."""
    if not (DATA_DIR / "README.md").is_file():
        pytest.fail(f"data folder not found: {DATA_DIR}")
    folder = tmp_path_factory.mktemp("replica")
    for path in DATA_DIR.rglob("*"):
        if path.is_file():
            target = folder / path.relative_to(DATA_DIR)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.touch()
    url = sqlite_url(tmp_path_factory.mktemp("db") / "replica.sqlite")
    load_folder(folder, url)
    data = DatabaseData(url)
    yield folder, data
    data.close()


@pytest.mark.parametrize("pattern", every_requirements_pattern())
def test_every_requirements_pattern_finds_what_the_folder_finds(
    replica: tuple[Path, DatabaseData], pattern: str
) -> None:
    folder, data = replica
    if pattern == req.OKX_DAILY:  # a folder, read whole
        found = data.folder(pattern)
        assert found is not None and data.relative(found) == pattern
        assert (folder / pattern).is_dir()
        return
    try:
        expected = str(locate(folder, pattern).relative_to(folder))
    except DataFileError as error:
        same_error(error, caught(lambda: data.locate(pattern)))
        return
    assert data.relative(data.locate(pattern)) == expected


@pytest.mark.parametrize(
    "pattern",
    [
        "a/x_*.csv",
        "a/x_?.csv",
        "a/x_[0-9].csv",
        "a/*",
        "*/x_1.csv",
        "a/b/*.csv",
        "*.json",
        "a/X_*.csv",
        "a/x_1.csv",
        "a/?????-??-??.csv",
    ],
)
def test_glob_match_is_path_glob_for_files(tmp_path: Path, pattern: str) -> None:
    names = [
        "a/x_1.csv",
        "a/x_22.csv",
        "a/X_3.csv",
        "a/.x_4.csv",
        "a/x_5.csv.bak",
        "a/b/x_6.csv",
        "a/b/c/x_7.csv",
        "c/x_1.csv",
        "m.json",
        "a/2024x-01-02.csv",
        "a/2024-01-02.csv",
    ]
    write_folder(tmp_path, dict.fromkeys(names, "a\n1\n"))
    expected = {p.relative_to(tmp_path).as_posix() for p in tmp_path.glob(pattern) if p.is_file()}
    assert {n for n in names if glob_match(pattern_parts(pattern), n)} == expected


def test_missing_and_ambiguous_patterns_are_named(loaded: DatabaseData) -> None:
    missing = caught(lambda: loaded.locate("prices/perp_*.csv"))
    assert str(missing).endswith("#prices/perp_*.csv: file not found")
    ambiguous = caught(lambda: loaded.locate("prices/*.csv"))
    assert str(ambiguous).endswith(
        "#prices/*.csv: pattern matches 2 files: prices/odd.csv, prices/spot_1h_a.csv"
    )
    assert loaded.exists("bad/*.csv") and not loaded.exists("nothing/*.csv")
    assert loaded.folder("prices") is not None and loaded.folder("pric") is None
    with pytest.raises(ValueError, match="unsupported data file pattern"):
        loaded.locate("**/x.csv")


# --- loading and reloading ------------------------------------------------------------------


def data_tables(database_url: str) -> list[str]:
    engine = sa.create_engine(database_url)
    try:
        return sorted(n for n in sa.inspect(engine).get_table_names() if n.startswith("bd_"))
    finally:
        engine.dispose()


def test_a_load_reports_what_it_stored(folder: Path, database_url: str) -> None:
    report = load_folder(folder, database_url)
    assert (report.files, report.tables, report.documents) == (len(FILES), 8, 4)
    assert report.rows == 20  # blank lines are rows: 6 + 2 + 2 + 4 + (3 + 1) OKX + 2 + 0
    assert report.seconds > 0
    assert report.problems == (
        "bad/empty.csv: empty file (no header)",
        "bad/malformed.csv: malformed CSV: Error tokenizing data. C error: Expected 2 fields "
        "in line 3, saw 3\n",
    )
    data = DatabaseData(database_url)
    assert report.url_masked == data.url_masked and report.load_id == data.load_id
    data.close()
    assert len(data_tables(database_url)) == 8


def test_reloading_replaces_the_data_set_and_drops_the_old_tables(
    folder: Path, database_url: str
) -> None:
    load_folder(folder, database_url)
    first = DatabaseData(database_url)
    (folder / "prices/spot_1h_a.csv").write_text("timestamp,open\n2024-02-01T00:00:00Z,9\n")
    (folder / "prices/odd.csv").unlink()
    load_folder(folder, database_url)
    second = DatabaseData(database_url)
    assert second.load_id != first.load_id
    frame, _ = read_table(stored(second, "prices/spot_1h_a.csv"), ["open"])
    assert frame["open"].tolist() == ["9"]
    assert str(caught(lambda: second.locate("prices/odd*"))).endswith("file not found")
    tables = data_tables(database_url)
    assert len(tables) == 7 and all(t.startswith(f"bd_{second.load_id[:8]}_") for t in tables)
    ref = second.locate("prices/spot_1h_a.csv")
    assert second.cache_key(ref) != first.cache_key(first.locate("prices/spot_1h_a.csv"))
    gone = caught(lambda: read_table(stored(first, "prices/odd.csv"), []))  # an old root
    assert "is missing (dropped by a newer load?)" in str(gone)
    first.close()
    second.close()


def test_a_failed_load_leaves_the_previous_data_set(folder: Path, database_url: str) -> None:
    load_folder(folder, database_url)
    before = data_tables(database_url)
    (folder / "prices/spot_1h_a.csv").write_text("timestamp,open\n2024-02-01T00:00:00Z,9\n")

    def interrupt(done: int, total: int, relative: str) -> None:
        if done >= 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        load_folder(folder, database_url, progress=interrupt)
    data = DatabaseData(database_url)
    frame, _ = read_table(stored(data, "prices/spot_1h_a.csv"), ["open"])
    assert frame["open"].tolist() == ["0.000100000000000000005", "", "1e-7", "3.10"]
    assert data_tables(database_url) == before
    data.close()


def test_a_database_failure_part_way_leaves_the_previous_data_set(
    tmp_path: Path, folder: Path
) -> None:
    """SQLite refuses a table of more than 2000 columns: the load fails, naming the file."""
    url = sqlite_url(tmp_path / "data.sqlite")
    load_folder(folder, url)
    before = data_tables(url)
    header = ",".join(f"c{i}" for i in range(2100))
    write_folder(folder, {"zz/wide.csv": header + "\n" + ",".join(["1"] * 2100) + "\n"})
    with pytest.raises(DataError, match=r"data database sqlite:///.*cannot store the files"):
        load_folder(folder, url)
    assert data_tables(url) == before
    data = DatabaseData(url)
    assert not data.exists("zz/*")
    data.close()


def test_load_folder_refuses_a_missing_folder(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="data folder not found"):
        load_folder(tmp_path / "nope", sqlite_url(tmp_path / "x.sqlite"))
    assert not (tmp_path / "x.sqlite").exists()


# --- database errors ------------------------------------------------------------------------


def test_a_missing_sqlite_file_is_never_loaded_and_not_created(tmp_path: Path) -> None:
    url = sqlite_url(tmp_path / "none.sqlite")
    with pytest.raises(
        DataError, match=r"sqlite:///.*none\.sqlite: no such file;.*basis data load"
    ):
        DatabaseData(url)
    assert not (tmp_path / "none.sqlite").exists()


def test_a_database_never_loaded_says_so(tmp_path: Path) -> None:
    connection = sqlite3.connect(tmp_path / "other.sqlite")
    connection.execute("CREATE TABLE runs (id TEXT)")
    connection.close()
    with pytest.raises(DataError, match=r"other\.sqlite: no data set loaded"):
        DatabaseData(sqlite_url(tmp_path / "other.sqlite"))


def test_an_unreachable_database_is_named_with_its_password_masked() -> None:
    url = "postgresql+psycopg://basis:s3cret-pw@127.0.0.1:1/basis_data"
    with pytest.raises(DataError) as error:
        DatabaseData(url)
    text = str(error.value)
    assert "postgresql+psycopg://basis:***@127.0.0.1:1/basis_data" in text
    assert "cannot read the data catalog" in text and "s3cret-pw" not in text


def test_an_unusable_url_is_a_config_error() -> None:
    with pytest.raises(ConfigError) as error:
        DatabaseData("not a url")
    assert error.value.field == "BASIS_DATABASE_URL"


def test_default_url_is_a_sqlite_file_in_the_current_folder() -> None:
    assert DEFAULT_DATA_DB_URL == "sqlite:///basis_data.sqlite"


# --- names ----------------------------------------------------------------------------------


def test_table_and_column_names_are_safe_identifiers() -> None:
    taken: set[str] = set()
    long = "market_data/okx/funding_rates/daily/okx_funding_rates_2024-05-01.csv"
    names = [table_name("0123456789abcdef", path, taken) for path in (long, "a-b.csv", "a_b.csv")]
    identifier = re.compile(r"[a-z_][a-z0-9_]*")
    assert all(len(n) <= MAX_NAME and identifier.fullmatch(n) for n in names)
    assert len(set(names)) == 3 and names[1] == "bd_01234567_a_b"
    assert names[0].startswith("bd_01234567_") and "2024_05_01" in names[0]
    columns = column_names(["Date", "date", "", "1st", "source_line", "Liquidation Threshold"])
    assert columns == [
        "date",
        "date_2",
        "column",
        "c_1st",
        "source_line_2",
        "liquidation_threshold",
    ]


# --- BASIS_DATA_MODE ------------------------------------------------------------------------

DB_ENV = {"BASIS_DATA_MODE": "db"}


@pytest.mark.parametrize("mode", [None, "", "csv"])
def test_csv_mode_reads_the_folder(tmp_path: Path, mode: str | None) -> None:
    config = load_run_config("btc_basis", env={})
    env = {} if mode is None else {"BASIS_DATA_MODE": mode}
    root = open_data(config, tmp_path, env)
    assert isinstance(root, FolderData) and root.path == tmp_path


def test_db_mode_reads_the_database(loaded: DatabaseData, database_url: str) -> None:
    config = load_run_config("btc_basis", env={})
    root = open_data(config, None, DB_ENV | {"BASIS_DATABASE_URL": database_url})
    assert isinstance(root, DatabaseData) and root.load_id == loaded.load_id
    root.close()


@pytest.mark.parametrize(
    ("env", "data_dir", "field", "fragment"),
    [
        ({"BASIS_DATA_MODE": "parquet"}, None, "BASIS_DATA_MODE", "was 'parquet'"),
        ({"BASIS_DATA_MODE": "DB"}, None, "BASIS_DATA_MODE", "was 'DB'"),
        (DB_ENV, None, "BASIS_DATABASE_URL", "when BASIS_DATA_MODE=db; not set"),
        (DB_ENV | {"BASIS_DATABASE_URL": "sqlite:///x"}, "/d", "BASIS_DATA_MODE", "'/d'"),
        (
            DB_ENV | {"BASIS_DATABASE_URL": "x", "BASIS_DATA_DIR": "/e"},
            None,
            "BASIS_DATA_MODE",
            "/e",
        ),
    ],
)
def test_data_mode_selection_errors(
    env: dict[str, str], data_dir: str | None, field: str, fragment: str
) -> None:
    config = load_run_config("btc_basis", env={})
    with pytest.raises(ConfigError) as error:
        open_data(config, data_dir, env)
    assert error.value.field == field and fragment in str(error.value)


def test_service_workers_get_the_data_source_settings(tmp_path: Path) -> None:
    environ = {"BASIS_DATA_DIR": "/d", "BASIS_RESERVE_RATIO": "0.1", "BASIS_API_TOKEN": "t"}
    url = "postgresql+psycopg://u:p@h/db"
    assert worker_data(environ | {"BASIS_DATABASE_URL": url}, tmp_path) == (
        str(tmp_path),
        {"BASIS_DATA_DIR": "/d", "BASIS_RESERVE_RATIO": "0.1"},
    )
    db = environ | DB_ENV | {"BASIS_DATABASE_URL": url}
    assert worker_data(db, tmp_path) == (
        "",
        {"BASIS_DATA_MODE": "db", "BASIS_RESERVE_RATIO": "0.1", "BASIS_DATABASE_URL": url},
    )
