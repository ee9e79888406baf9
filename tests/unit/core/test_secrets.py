"""Secrets come only from the environment and never reach a log line: raw, in arguments, in
structured fields, in a traceback, URL-, JSON- or base64-encoded, or in ccxt's DEBUG request
lines. Each test searches everything the logging wrote for the raw secret."""

from __future__ import annotations

import base64
import io
import json
import logging
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote, quote_plus

import pytest
from tests.fakes.okx_v5 import OkxV5Fake, okx_client

from basis_strategy.config.loader import env_overrides, is_process_setting
from basis_strategy.core.errors import ConfigError
from basis_strategy.core.logs import (
    Health,
    JsonFormatter,
    SecretFilter,
    configure_json_logging,
    log_event,
)
from basis_strategy.core.secrets import (
    SECRET_ENV,
    SECRETS,
    VENUE_ENV,
    SecretRegistry,
    VenueCredentials,
    load_credentials,
)

# characters that URL, JSON and repr encode differently, so each spelling is distinct
SECRET = 'Zk9+/q=S é"cr\\et&42'
ENV = {
    "BASIS_BINANCE_API_KEY": "binance-key-1111",
    "BASIS_BINANCE_API_SECRET": "binance-secret-2222",
    "BASIS_BYBIT_API_KEY": "bybit-key-3333",
    "BASIS_BYBIT_API_SECRET": "bybit-secret-4444",
    "BASIS_OKX_API_KEY": "okx-key-5555",
    "BASIS_OKX_API_SECRET": "okx-secret-6666",
    "BASIS_OKX_API_PASSPHRASE": "okx-pass+phrase/7777",
    "BASIS_WALLET_PRIVATE_KEY": "0x" + "ab" * 32,
}


def spellings(secret: str) -> list[str]:
    raw = secret.encode()
    return [
        secret,
        quote(secret, safe=""),
        quote_plus(secret),
        json.dumps(secret)[1:-1],
        json.dumps(secret, ensure_ascii=False)[1:-1],
        repr(secret)[1:-1],
        base64.b64encode(raw).decode().rstrip("="),
    ]


def decoded(text: str) -> str:
    """The strings inside the JSON lines of `text`, unescaped (a JSON line must not carry a
    secret in escaped form either)."""
    found: list[str] = []

    def walk(value: Any) -> None:
        if isinstance(value, str):
            found.append(value)
        elif isinstance(value, dict):
            for key, item in value.items():
                walk(key)
                walk(item)
        elif isinstance(value, list):
            for item in value:
                walk(item)

    for line in text.splitlines():
        try:
            walk(json.loads(line))
        except ValueError:
            continue
    return "\n".join(found)


def assert_absent(text: str, *secrets: str) -> None:
    assert text, "nothing was captured: the test would prove nothing"
    text = text + "\n" + decoded(text)
    for secret in secrets:
        for spelling in spellings(secret):
            assert spelling not in text, spelling


@pytest.fixture
def registry() -> SecretRegistry:
    registry = SecretRegistry()
    registry.register(SECRET)
    return registry


@pytest.fixture
def logged(registry: SecretRegistry) -> Iterator[tuple[logging.Logger, io.StringIO]]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter(registry))
    handler.addFilter(SecretFilter(registry))
    logger = logging.getLogger(f"test.secrets.{id(stream)}")
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    logger.addHandler(handler)
    yield logger, stream
    logger.removeHandler(handler)


def test_a_secret_is_masked_in_message_args_fields_and_encodings(
    logged: tuple[logging.Logger, io.StringIO], registry: SecretRegistry
) -> None:
    logger, stream = logged
    logger.info("raw %s", SECRET)
    logger.info("in the message itself: " + SECRET)
    logger.info("args as a mapping: %(key)s", {"key": SECRET})
    logger.debug("url GET /x?apiKey=%s&q=%s", quote(SECRET, safe=""), quote_plus(SECRET))
    logger.debug("headers %s body %s", {"OK-ACCESS-KEY": SECRET}, json.dumps({"s": SECRET}))
    logger.info("basic %s", base64.b64encode(SECRET.encode()).decode())
    log_event(
        logger,
        "VEN-003",
        "refused",
        health=Health(),
        registry=registry,
        key=SECRET,
        nested={"list": [SECRET, 1], SECRET: "as a key"},
        obj=VenueCredentials(SECRET, SECRET),
        url=f"https://x/?k={quote(SECRET)}",
    )
    text = stream.getvalue()
    assert_absent(text, SECRET)
    assert len(text.splitlines()) == 7 and text.count("***") >= 9


def test_a_secret_in_an_exception_traceback_is_masked(
    logged: tuple[logging.Logger, io.StringIO],
) -> None:
    logger, stream = logged

    def sign(key: str) -> None:
        raise ValueError(f"bad signature for key {key}")

    try:
        sign(SECRET)
    except ValueError:
        logger.exception("signing failed")
    try:
        sign(SECRET)
    except ValueError as exc:
        log_event(logger, "VEN-002", "unreachable", exc_info=exc, health=Health())
    text = stream.getvalue()
    assert_absent(text, SECRET)
    (first, second) = [json.loads(line) for line in text.splitlines()]
    assert "bad signature for key ***" in first["exc"] and "ValueError" in second["exc"]


def test_the_formatter_masks_even_without_the_filter(registry: SecretRegistry) -> None:
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "m %s", (SECRET,), None)
    record.fields = {"k": SECRET}
    assert_absent(JsonFormatter(registry).format(record), SECRET)


def test_configured_root_logging_masks_env_secrets_on_every_root_handler() -> None:
    root = logging.getLogger()
    plain_stream, json_stream = io.StringIO(), io.StringIO()
    plain = logging.StreamHandler(plain_stream)  # a handler someone installed before
    plain.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
    saved = list(root.handlers), root.level
    filters = {handler: list(handler.filters) for handler in saved[0]}
    root.addHandler(plain)
    try:
        configure_json_logging(json_stream, env=ENV)
        log = logging.getLogger("basis_strategy.live.anything")
        for name, value in ENV.items():
            log.warning("%s is %s", name, value)
        log.warning("url-encoded passphrase %s", quote(ENV["BASIS_OKX_API_PASSPHRASE"], safe=""))
    finally:
        for handler in list(root.handlers):
            if handler not in saved[0]:
                root.removeHandler(handler)
        for handler, kept in filters.items():
            handler.filters[:] = kept
        root.setLevel(saved[1])
        SECRETS.clear()
    for text in (plain_stream.getvalue(), json_stream.getvalue()):
        assert_absent(text, *ENV.values())
        assert "BASIS_OKX_API_PASSPHRASE is ***" in text


def test_ccxt_debug_request_lines_never_show_key_or_passphrase(registry: SecretRegistry) -> None:
    """ccxt logs every request at DEBUG with its headers (OKX sends key and passphrase as
    headers): the real client, against the local OKX fake, through the filter."""
    key, secret, passphrase = "okx-key-9f8e7d", "okx-secret-6c5b4a", "pass/ph+rase=0"
    registry.register(key, secret, passphrase)
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter(registry))
    handler.addFilter(SecretFilter(registry))
    ccxt_log = logging.getLogger("ccxt.base.exchange")
    saved_level = ccxt_log.level
    ccxt_log.addHandler(handler)
    ccxt_log.setLevel(logging.DEBUG)
    try:
        with OkxV5Fake(api_key=key, api_secret=secret, passphrase=passphrase) as fake:
            client = okx_client(fake, api_key=key, secret=secret, password=passphrase)
            client.load_markets()
            balance = client.fetch_balance()
            client.session.close()
    finally:
        ccxt_log.removeHandler(handler)
        ccxt_log.setLevel(saved_level)
    assert balance["USDT"]["total"] > 0  # signed requests were accepted: the headers were sent
    text = stream.getvalue()
    request_lines = [line for line in text.splitlines() if "/api/v5/account/balance" in line]
    assert request_lines and "OK-ACCESS-PASSPHRASE" in text and "***" in text
    assert_absent(text, key, secret, passphrase)


def test_credentials_are_read_from_the_environment_and_never_shown() -> None:
    registry = SecretRegistry()
    found = load_credentials(["binance", "okx"], wallet=True, env=ENV, registry=registry)
    assert found.venues["okx"].passphrase == ENV["BASIS_OKX_API_PASSPHRASE"]
    assert found.venues["binance"].ccxt_config() == {
        "apiKey": ENV["BASIS_BINANCE_API_KEY"],
        "secret": ENV["BASIS_BINANCE_API_SECRET"],
    }
    assert found.wallet_private_key == ENV["BASIS_WALLET_PRIVATE_KEY"]
    shown = " ".join([repr(found), str(found), f"{found}", repr(found.venues["okx"])])
    assert_absent(shown, *ENV.values())
    assert "okx" in shown and "***" in shown
    for name in (
        "BASIS_BINANCE_API_SECRET",
        "BASIS_OKX_API_PASSPHRASE",
        WALLET := "BASIS_WALLET_PRIVATE_KEY",
    ):
        assert registry.redact(f"x {ENV[name]} y") == "x *** y", name
    assert WALLET
    assert registry.redact(ENV["BASIS_BYBIT_API_KEY"]) == ENV["BASIS_BYBIT_API_KEY"]  # not read


@pytest.mark.parametrize("missing", [n for names in VENUE_ENV.values() for n in names if n])
def test_a_missing_variable_is_one_line_naming_it_and_no_value(missing: str) -> None:
    env = {name: value for name, value in ENV.items() if name != missing}
    with pytest.raises(ConfigError) as caught:
        load_credentials(list(VENUE_ENV), env=env, registry=SecretRegistry())
    message = str(caught.value)
    assert message.startswith(f"{missing}: not set") and "\n" not in message
    assert_absent(message, *env.values())


def test_an_empty_variable_counts_as_missing_and_the_wallet_key_is_asked_for_by_name() -> None:
    env = {**ENV, "BASIS_BYBIT_API_SECRET": "  "}
    with pytest.raises(ConfigError, match=r"^BASIS_BYBIT_API_SECRET: not set"):
        load_credentials(["bybit"], env=env, registry=SecretRegistry())
    with pytest.raises(ConfigError, match=r"^BASIS_WALLET_PRIVATE_KEY: not set"):
        load_credentials([], wallet=True, env={}, registry=SecretRegistry())
    with pytest.raises(ConfigError, match="no credentials are defined for 'kraken'"):
        load_credentials(["kraken"], env=ENV, registry=SecretRegistry())


def test_secret_variables_are_never_read_as_run_config() -> None:
    """Else a secret would be parsed as a config key and could be quoted in its error."""
    assert all(is_process_setting(name) for name in SECRET_ENV)
    assert env_overrides({**ENV, "BASIS_API_TOKEN": "t0k3n"}) == []
