"""Sandbox configuration: life-cycle timings, result shape, and fault injection.

A configuration is a mapping of the keys in :data:`DEFAULTS` (the global values) plus an optional
``instances`` mapping of instance id -> the same keys (per-instance overrides)::

    latency_seconds: 2          # global
    impressions_per_day: 20000
    instances:
      amcflaky01:
        fail_rate: 0.5
        failure_reason: "Query exceeded resource limits"
      amcslow01:
        extra_latency_seconds: 30

The effective configuration is the built-in defaults, then the config file(s) and command-line
flags (the *base*), then the runtime *overlay* set through ``PUT /_sandbox/config``.
``*_next`` keys are one-shot counters: "the next N matching requests get this fault".
"""

from __future__ import annotations

import json
import math
import random
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

DEFAULTS: dict[str, Any] = {
    # -- execution life cycle (real time) --
    "latency_seconds": 5.0,  # create -> SUCCEEDED when a RUNNING slot is free (queue + run)
    "queue_seconds": None,  # time PENDING before it may start; default 20% of latency_seconds
    "run_seconds": None,  # time RUNNING (incl. PUBLISHING); default the other 80%
    "publishing_seconds": None,  # last part of the run reported PUBLISHING; default 10% of run
    "extra_latency_seconds": 0.0,  # added to the run time (a slow instance)
    "max_running": 10,  # RUNNING executions per instance; the rest wait PENDING
    # -- results --
    "rows": None,  # None: run the SQL on synthetic AMC data; N: N invented rows, SQL only parsed
    "impressions_per_day": 50000,  # synthetic data volume: ad impressions per instance and day
    "data_as_of": None,  # ISO time: what AMC has received by then (None: the real clock)
    "parts": 1,  # number of CSV files the result is split into (each with a header)
    "csv_fault": None,  # None | "malformed" | "truncated" | "empty" (zero bytes, no header)
    "url_expires_seconds": 600,  # validity of pre-signed download URLs
    "expired_urls": False,  # issue download URLs that are already expired
    "data_gaps": [],  # reported verbatim as dataGaps of new executions
    # -- what one query may use (past it, the execution ends FAILED) --
    "query_timeout_seconds": 60.0,  # wall-clock time of a query, loading its data included
    "query_memory_mb": 1024,  # DuckDB's memory (no spilling to disk), and again for its result
    # -- AMC's paid features the instance has (amc_schema.yaml): "all" or a list of names --
    "paid_features": "all",
    # -- auth --
    "token_expires_in": 3600,  # LwA access token lifetime (global only)
    # -- HTTP faults on AMC API routes --
    "response_delay_seconds": 0.0,  # extra latency added to every AMC API response
    "throttle_rate": 0.0,  # probability of HTTP 429
    "retry_after_seconds": 1,  # Retry-After sent with injected 429s
    "rate_limit_rps": 0.0,  # token bucket refill rate (requests/s); 0 = no rate limit
    "rate_limit_burst": 10,  # token bucket size
    "error_rate": 0.0,  # probability of HTTP 500
    # -- execution outcome faults (decided when the execution is created) --
    "fail_rate": 0.0,  # probability the execution ends FAILED
    "failure_reason": "Query execution failed: internal error (sandbox fault injection)",
    "reject_rate": 0.0,  # probability the execution ends REJECTED (never runs)
    "missing_id_rate": 0.0,  # probability the create response has no id and no Location
    "location_only_rate": 0.0,  # probability the id is only in the Location header
    # -- download faults --
    "drop_connection_after_bytes": 4096,  # where drop_connection_next cuts a download
    "download_error_rate": 0.0,  # probability of a 503 SlowDown on a download
    "download_delay_seconds": 0.0,  # wait before serving a result part (a slow download)
    # -- one-shot counters: the next N matching requests / executions get the fault --
    "throttle_next": 0,  # AMC API requests answered 429
    "error_next": 0,  # AMC API requests answered 500
    "fail_next": 0,  # new executions that end FAILED
    "reject_next": 0,  # new executions that end REJECTED
    "missing_id_next": 0,  # create responses without id nor Location
    "location_only_next": 0,  # create responses with the id only in Location
    "expired_urls_next": 0,  # downloadUrls responses whose URLs are already expired
    "no_urls_next": 0,  # downloadUrls responses with an empty list of URLs
    "drop_connection_next": 0,  # downloads cut after drop_connection_after_bytes
    "download_error_next": 0,  # downloads answered 503
    "drop_create_next": 0,  # creates that start an execution, then cut the connection unanswered
    "lose_next": 0,  # new executions AMC forgets at once: HTTP 404 on every later call
    # -- misc --
    "seed": None,  # seed of the fault dice (global only); None = random
}

GLOBAL_ONLY = frozenset({"token_expires_in", "seed"})
COUNTER_KEYS = frozenset(k for k in DEFAULTS if k.endswith("_next"))

_NON_NEGATIVE_FLOATS = {
    "latency_seconds",
    "queue_seconds",
    "run_seconds",
    "publishing_seconds",
    "extra_latency_seconds",
    "response_delay_seconds",
    "download_delay_seconds",
    "retry_after_seconds",
    "rate_limit_rps",
}
_RATES = {
    "throttle_rate",
    "error_rate",
    "fail_rate",
    "reject_rate",
    "missing_id_rate",
    "location_only_rate",
    "download_error_rate",
}
_DAY = 86400
# Bounds keep one request from making the sandbox write gigabytes or sleep for days.
_INTS = {  # key -> (minimum, maximum)
    "max_running": (1, 1000),
    "rows": (0, 1_000_000),
    "parts": (1, 100),
    "impressions_per_day": (0, 2_000_000),
    "url_expires_seconds": (1, 7 * _DAY),
    "token_expires_in": (1, _DAY),
    "rate_limit_burst": (1, 100_000),
    "drop_connection_after_bytes": (0, 1 << 30),
    "query_memory_mb": (16, 1 << 20),
    **{k: (0, 1_000_000) for k in COUNTER_KEYS},
}
_FLOAT_MAXIMA = {
    "response_delay_seconds": 60.0,
    "download_delay_seconds": 60.0,
    "retry_after_seconds": 3600.0,
}
_FLOAT_MAXIMUM = 30.0 * _DAY  # latencies: a month
_CSV_FAULTS = (None, "malformed", "truncated", "empty")


class ConfigError(ValueError):
    """An invalid sandbox configuration; the message names the key and where it came from."""


def _check_value(key: str, value: Any, where: str) -> Any:
    if key in _NON_NEGATIVE_FLOATS:
        if value is None and key in {"queue_seconds", "run_seconds", "publishing_seconds"}:
            return None
        top = _FLOAT_MAXIMA.get(key, _FLOAT_MAXIMUM)
        if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= top:
            raise ConfigError(f"{where}: {key} must be a number from 0 to {top:g}, got {value!r}")
        return float(value)
    if key == "query_timeout_seconds":
        number = isinstance(value, int | float) and not isinstance(value, bool)
        if not number or not 0.1 <= value <= 3600:
            raise ConfigError(f"{where}: {key} must be a number from 0.1 to 3600, got {value!r}")
        return float(value)
    if key in _RATES:
        if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1:
            raise ConfigError(
                f"{where}: {key} must be a probability between 0 and 1, got {value!r}"
            )
        return float(value)
    if key == "rows" and value is None:
        return None
    if key == "data_as_of":
        return _check_instant(value, where)
    if key in _INTS:
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        low, high = _INTS[key]
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise ConfigError(
                f"{where}: {key} must be an integer from {low} to {high}, got {value!r}"
            )
        return value
    if key == "expired_urls":
        if not isinstance(value, bool):
            raise ConfigError(f"{where}: expired_urls must be true or false, got {value!r}")
        return value
    if key == "csv_fault":
        if value not in _CSV_FAULTS:
            raise ConfigError(
                f"{where}: csv_fault must be null, 'malformed', 'truncated' or 'empty', "
                f"got {value!r}"
            )
        return value
    if key == "failure_reason":
        if not isinstance(value, str) or not value or len(value) > 2000:
            raise ConfigError(f"{where}: failure_reason must be a string of 1 to 2000 characters")
        return value
    if key == "data_gaps":
        if not isinstance(value, list) or len(value) > 1000:
            raise ConfigError(f"{where}: data_gaps must be a list of at most 1000 entries")
        return value
    if key == "paid_features":
        return _check_paid_features(value, where)
    if key == "seed":
        if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
            raise ConfigError(f"{where}: seed must be an integer or null")
        return value
    raise ConfigError(f"{where}: unknown key {key!r}")  # pragma: no cover - guarded by caller


def _check_paid_features(value: Any, where: str) -> str | list[str]:
    from amc_reports.local.sandbox.schema import load

    known = sorted(load().paid_features)
    if value == "all":
        return value
    if not isinstance(value, list) or any(v not in known for v in value):
        raise ConfigError(
            f"{where}: paid_features must be 'all' or a list of: {', '.join(known)}; got {value!r}"
        )
    return sorted(set(value))


def paid_features(settings: dict[str, Any]) -> list[str] | None:
    """The paid features of effective settings (None: all of them)."""
    value = settings.get("paid_features", "all")
    return None if value == "all" else list(value)


def _check_instant(value: Any, where: str) -> str | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            moment = None
    else:
        moment = None
    if moment is None:
        raise ConfigError(
            f"{where}: data_as_of must be an ISO time such as 2026-03-20T00:00:00Z, or null "
            f"(the real clock), got {value!r}"
        )
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def data_as_of(settings: dict[str, Any]) -> datetime | None:
    """The ``data_as_of`` of effective settings, as an aware time (None: the real clock)."""
    value = settings.get("data_as_of")
    return None if value is None else datetime.fromisoformat(value.replace("Z", "+00:00"))


def validate_config(data: Any, *, where: str = "sandbox config") -> dict[str, Any]:
    """Check a configuration mapping and return a normalised copy (raises :class:`ConfigError`)."""
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: expected a mapping of settings, got {type(data).__name__}")
    out: dict[str, Any] = {}
    for key, value in data.items():
        if key == "instances":
            if value is None:
                continue
            if not isinstance(value, dict):
                raise ConfigError(f"{where}: instances must map instance ids to settings")
            instances: dict[str, dict[str, Any]] = {}
            for instance_id, settings in value.items():
                inner = f"{where}: instances.{instance_id}"
                if settings is None:
                    settings = {}
                if not isinstance(settings, dict):
                    raise ConfigError(f"{inner}: expected a mapping of settings")
                checked = {}
                for k, v in settings.items():
                    if k not in DEFAULTS:
                        raise ConfigError(f"{inner}: unknown key {k!r}; known keys: {_known()}")
                    if k in GLOBAL_ONLY:
                        raise ConfigError(f"{inner}: {k} can only be set globally")
                    checked[k] = _check_value(k, v, inner)
                instances[str(instance_id)] = checked
            out["instances"] = instances
            continue
        if key not in DEFAULTS:
            raise ConfigError(f"{where}: unknown key {key!r}; known keys: {_known()}")
        out[key] = _check_value(key, value, where)
    return out


def _known() -> str:
    return ", ".join(sorted([*DEFAULTS, "instances"]))


def load_config_file(path: Path) -> dict[str, Any]:
    """Read a YAML or JSON config file (validated)."""
    text = Path(path).read_text(encoding="utf-8")
    if str(path).endswith(".json"):
        try:
            data = json.loads(text) if text.strip() else {}
        except ValueError as exc:
            raise ConfigError(f"{path}: invalid JSON: {exc}") from None
    else:
        import yaml

        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise ConfigError(f"{path}: invalid YAML: {exc}") from None
    return validate_config(data, where=str(path))


def merge_config(base: dict[str, Any], overlay: dict[str, Any]) -> dict[str, Any]:
    """``overlay`` over ``base``; ``instances`` are merged per instance and per key."""
    out = {k: v for k, v in base.items() if k != "instances"}
    out.update({k: v for k, v in overlay.items() if k != "instances"})
    instances: dict[str, dict[str, Any]] = {
        k: dict(v) for k, v in (base.get("instances") or {}).items()
    }
    for instance_id, settings in (overlay.get("instances") or {}).items():
        instances.setdefault(instance_id, {}).update(settings)
    if instances:
        out["instances"] = instances
    return out


@dataclass
class TokenBucket:
    rate: float
    burst: int
    tokens: float
    updated: float

    def take(self, now: float) -> float:
        """Take a token; return 0 if granted, else the seconds until one is available."""
        self.tokens = min(float(self.burst), self.tokens + (now - self.updated) * self.rate)
        self.updated = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return 0.0
        return (1.0 - self.tokens) / self.rate


class Faults:
    """The live configuration of one sandbox: effective settings, counters, dice, buckets."""

    def __init__(self, base: dict[str, Any] | None = None) -> None:
        self._lock = threading.Lock()
        self.base = validate_config(base or {}, where="base config")
        self.overlay: dict[str, Any] = {}
        self._rebuild()

    # -- configuration --------------------------------------------------------------------------

    def _rebuild(self, armed: dict[str, dict[str, Any]] | None = None) -> None:
        """Recompute the effective settings; arm the one-shot counters that ``armed`` sets.

        ``armed`` is the configuration a PUT or PATCH sent: its ``*_next`` keys (re)arm their
        counters; every other counter keeps what is left of it, so changing one switch does not
        re-arm faults already spent. ``None`` (start, reset) arms every counter afresh.
        """
        self.effective = merge_config(self.base, self.overlay)
        seed = self.effective.get("seed")
        self._rng = random.Random(seed)
        self._settings_cache: dict[str | None, dict[str, Any]] = {}
        self._buckets: dict[str, TokenBucket] = {}
        old = getattr(self, "counters", {})
        # Counters: scope ("*" or instance id) -> key -> remaining.
        self.counters: dict[str, dict[str, int]] = {}
        scopes = [("*", self.effective, armed)]
        for instance_id, settings in (self.effective.get("instances") or {}).items():
            sent = (armed or {}).get("instances", {}).get(instance_id, {})
            scopes.append((instance_id, settings, None if armed is None else sent))
        for scope, settings, sent in scopes:
            for key in COUNTER_KEYS:
                if not settings.get(key):
                    continue
                kept = old.get(scope, {}).get(key)
                fresh = sent is None or key in sent or kept is None
                self.counters.setdefault(scope, {})[key] = int(settings[key]) if fresh else kept

    def set_overlay(self, overlay: dict[str, Any]) -> None:
        checked = validate_config(overlay, where="PUT /_sandbox/config")
        with self._lock:
            self.overlay = checked
            self._rebuild(armed=checked)

    def patch_overlay(self, patch: dict[str, Any]) -> None:
        checked = validate_config(patch, where="PATCH /_sandbox/config")
        with self._lock:
            self.overlay = merge_config(self.overlay, checked)
            self._rebuild(armed=checked)

    def reset(self) -> None:
        with self._lock:
            self.overlay = {}
            self._rebuild()

    def settings(self, instance_id: str | None = None) -> dict[str, Any]:
        """Effective settings for an instance (defaults, then global, then the instance's own)."""
        cached = self._settings_cache.get(instance_id)
        if cached is not None:
            return cached
        merged = dict(DEFAULTS)
        merged.update({k: v for k, v in self.effective.items() if k != "instances"})
        if instance_id is not None:
            merged.update((self.effective.get("instances") or {}).get(instance_id) or {})
        self._settings_cache[instance_id] = merged
        return merged

    def describe(self) -> dict[str, Any]:
        with self._lock:
            return {
                "base": self.base,
                "overlay": self.overlay,
                "effective": self.effective,
                "counters_remaining": {k: dict(v) for k, v in self.counters.items()},
                "defaults": DEFAULTS,
            }

    # -- dice and counters ----------------------------------------------------------------------

    def take(self, key: str, instance_id: str | None) -> bool:
        """Consume one unit of the one-shot counter ``key`` (the instance's own, else global)."""
        with self._lock:
            for scope in (instance_id, "*") if instance_id else ("*",):
                remaining = self.counters.get(scope, {}).get(key, 0)
                if remaining > 0:
                    self.counters[scope][key] = remaining - 1
                    return True
                if scope != "*" and key in self.counters.get(scope, {}):
                    return False  # the instance's own counter is exhausted; global doesn't apply
            return False

    def chance(self, rate: float) -> bool:
        if rate <= 0:
            return False
        if rate >= 1:
            return True
        with self._lock:
            return self._rng.random() < rate

    def fault(self, counter: str, rate_key: str, instance_id: str | None) -> bool:
        """Whether a fault fires: its one-shot counter first, then its probability."""
        if self.take(counter, instance_id):
            return True
        return self.chance(self.settings(instance_id)[rate_key])

    def throttle(self, instance_id: str | None, now: float) -> float | None:
        """Seconds for ``Retry-After`` if this AMC request is to be answered 429, else None."""
        s = self.settings(instance_id)
        if self.fault("throttle_next", "throttle_rate", instance_id):
            return s["retry_after_seconds"]
        rps = s["rate_limit_rps"]
        if rps > 0:
            own = (self.effective.get("instances") or {}).get(instance_id or "", {})
            scope = instance_id if instance_id and "rate_limit_rps" in own else "*"
            with self._lock:
                bucket = self._buckets.get(scope)
                if bucket is None or bucket.rate != rps:
                    burst = int(s["rate_limit_burst"])
                    bucket = TokenBucket(rps, burst, float(burst), now)
                    self._buckets[scope] = bucket
                wait = bucket.take(now)
            if wait > 0:
                return float(max(1, math.ceil(wait)))
        return None
