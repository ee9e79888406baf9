"""Secrets: read only from the environment, never shown in logs, events, files or responses.

Why here: every live credential (venue API keys, secrets and passphrases, the wallet key, the
API token) enters the process through this module, and every value it reads is registered
with `SECRETS`, the registry the log filter (`SecretFilter`, core/logs.py) masks. A value is
masked raw and in the encodings a log line may carry it in: URL-encoded (ccxt and urllib3 log
URLs and query strings), JSON- and repr-escaped (request bodies, header dicts) and base64.

The `BASIS_*` names below end in suffixes the config loader never reads as run settings
(`config/loader.py` SECRET_SUFFIXES), so a secret cannot reach a config error message.
"""

from __future__ import annotations

import base64
import json
import os
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from urllib.parse import quote, quote_plus

from basis_strategy.core.errors import ConfigError

MASK = "***"
API_TOKEN_ENV = "BASIS_API_TOKEN"  # the API server's bearer token (cli.py `basis serve`)
WALLET_KEY_ENV = "BASIS_WALLET_PRIVATE_KEY"
# venue -> (api key, api secret, passphrase or None) variable names
VENUE_ENV: Mapping[str, tuple[str, str, str | None]] = {
    "binance": ("BASIS_BINANCE_API_KEY", "BASIS_BINANCE_API_SECRET", None),
    "bybit": ("BASIS_BYBIT_API_KEY", "BASIS_BYBIT_API_SECRET", None),
    "okx": ("BASIS_OKX_API_KEY", "BASIS_OKX_API_SECRET", "BASIS_OKX_API_PASSPHRASE"),
}
# every variable whose value is a secret (URLs may carry a key or a password)
SECRET_ENV: tuple[str, ...] = (
    *(name for names in VENUE_ENV.values() for name in names if name),
    WALLET_KEY_ENV,
    API_TOKEN_ENV,
    "BASIS_ETH_RPC_URL",
    "BASIS_DATABASE_URL",
)


def encodings(secret: str) -> set[str]:
    """The spellings of `secret` a log line may contain (raw, URL, JSON, repr, base64)."""
    raw = secret.encode("utf-8")
    spelled = {
        secret,
        quote(secret, safe=""),
        quote_plus(secret, safe=""),
        json.dumps(secret)[1:-1],
        json.dumps(secret, ensure_ascii=False)[1:-1],
        repr(secret)[1:-1],
        base64.b64encode(raw).decode("ascii").rstrip("="),
        base64.urlsafe_b64encode(raw).decode("ascii").rstrip("="),
    }
    return {s for s in spelled if s}


class SecretRegistry:
    """The secret values to mask, in all their spellings; thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._spellings: tuple[str, ...] = ()

    def register(self, *secrets: str | None) -> None:
        """Mask these values from now on (empty and None values are ignored)."""
        new = {s for secret in secrets if secret for s in encodings(secret)}
        with self._lock:
            merged = new | set(self._spellings)
            # longest first: a secret containing another is masked whole
            self._spellings = tuple(sorted(merged, key=lambda s: (-len(s), s)))

    def register_environment(self, env: Mapping[str, str] | None = None) -> None:
        """Register the value of every secret variable (`SECRET_ENV`) that is set."""
        source = os.environ if env is None else env
        self.register(*(source.get(name) for name in SECRET_ENV))

    def clear(self) -> None:
        with self._lock:
            self._spellings = ()

    def redact(self, text: str) -> str:
        """`text` with every registered secret (in any spelling) replaced by `***`."""
        for spelling in self._spellings:  # a tuple swapped whole: safe to read unlocked
            if spelling in text:
                text = text.replace(spelling, MASK)
        return text


SECRETS = SecretRegistry()


@dataclass(frozen=True, repr=False)
class VenueCredentials:
    """One venue account's API credentials. repr/str never show them."""

    api_key: str
    api_secret: str
    passphrase: str | None = None

    def ccxt_config(self) -> dict[str, str]:
        """The ccxt constructor keys (`password` is OKX's passphrase)."""
        config = {"apiKey": self.api_key, "secret": self.api_secret}
        if self.passphrase is not None:
            config["password"] = self.passphrase
        return config

    def __repr__(self) -> str:
        extra = f", passphrase={MASK}" if self.passphrase is not None else ""
        return f"VenueCredentials(api_key={MASK}, api_secret={MASK}{extra})"


@dataclass(frozen=True, repr=False)
class Credentials:
    """The credentials one live run needs, by venue, plus the wallet key if it needs one."""

    venues: Mapping[str, VenueCredentials] = field(default_factory=dict)
    wallet_private_key: str | None = None

    def __repr__(self) -> str:
        wallet = MASK if self.wallet_private_key is not None else None
        return f"Credentials(venues={sorted(self.venues)}, wallet_private_key={wallet})"


def _required(env: Mapping[str, str], name: str, purpose: str) -> str:
    value = env.get(name, "")
    if not value.strip():
        raise ConfigError(name, f"not set: {purpose} needs it (set it in the environment)")
    return value


def load_credentials(
    venues: Iterable[str],
    wallet: bool = False,
    env: Mapping[str, str] | None = None,
    registry: SecretRegistry = SECRETS,
) -> Credentials:
    """Read the credentials of `venues` (and the wallet key if `wallet`) from the environment
    only (`env` is `os.environ` unless a test passes its own mapping), register every value
    with `registry` so logs mask it, and return them.

    A missing or empty variable raises ConfigError naming that variable only: the message
    never quotes a value. An unknown venue is a ConfigError too.
    """
    source = os.environ if env is None else env
    found: dict[str, VenueCredentials] = {}
    for venue in venues:
        if venue not in VENUE_ENV:
            raise ConfigError("venue", f"no credentials are defined for {venue!r}")
        key_env, secret_env, passphrase_env = VENUE_ENV[venue]
        purpose = f"live trading on {venue}"
        found[venue] = VenueCredentials(
            api_key=_required(source, key_env, purpose),
            api_secret=_required(source, secret_env, purpose),
            passphrase=_required(source, passphrase_env, purpose) if passphrase_env else None,
        )
    key = _required(source, WALLET_KEY_ENV, "on-chain execution") if wallet else None
    loaded = Credentials(venues=found, wallet_private_key=key)
    registry.register(key, *(v for c in found.values() for v in vars(c).values()))
    return loaded
