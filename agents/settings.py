"""One typed settings object, read from ``LATITUDE_*`` environment variables and a file.

Precedence: environment variable > settings file (``LATITUDE_CONFIG``, YAML) > default.
Errors name the variable or file field and say how to fix it.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import yaml

from agents.malloc_threshold import MAX_THRESHOLD_KB, THRESHOLD_KB

ENV_PREFIX = "LATITUDE_"
COMPRESSION_TYPES = ("none", "gzip", "snappy", "lz4", "zstd")  # Kafka's codecs


class SettingsError(ValueError):
    """A setting that cannot be used, with where it came from and the fix."""


@dataclass(frozen=True, slots=True)
class Settings:
    """Everything a Latitude process can be configured with (see README, Configuration)."""

    kafka_bootstrap: str = "127.0.0.1:9092"
    app_id: str = "latitude"
    topic_prefix: str = ""
    topic_partitions: int = 8
    topic_replication: int = 1
    output_retention_ms: int = 7 * 24 * 3600 * 1000
    web_host: str = "127.0.0.1"
    web_port: int = 6066
    data_dir: str = "data"
    store: str = "rocksdb"
    policy_file: str = ""
    max_event_bytes: int = 1_048_576
    snapshot_interval_seconds: float = 2.0
    # Every rep re-evaluated at most this often when stream time enters a new day
    # (agents/snapshot_schedule.py); changed reps each snapshot interval.
    full_snapshot_seconds: float = 30.0
    # Most of the worker's time rep snapshot passes may take (agents/snapshot_schedule.py):
    # past it, a partition's next pass waits and gathers more changes per rep.
    snapshot_budget: float = 0.1
    # Agents take records in batches of at most batch_max, waiting at most
    # batch_seconds for one to fill: each key a batch changes is written once, and a
    # batch's messages to a stage partition travel as one record. At 250 events/s
    # paced, 5 ms windows held a record or two and left the worker saturated (latency
    # p50 2.9 s); 25 ms windows cut that to 0.5 s (README, Benchmarks).
    batch_max: int = 1000
    batch_seconds: float = 0.025
    # The rep and team stages wait longer: a rep's state runs to KB and was rewritten
    # for nearly every message when batches held a few records (most of the changelog
    # bytes and of the worker's time when traffic is light); their results are
    # published per snapshot interval, so a fuller batch delays nothing but those.
    aggregate_batch_seconds: float = 0.5
    # Longest a consumer fetch waits for 64 KiB of records (agents/fetch_wait.py): paced
    # input then costs a fetch per window, not per trickle of records; 0: Faust's own
    # fetches, answered with the first record.
    fetch_wait_seconds: float = 0.025
    # Most bytes one fetch returns per partition (Kafka's max.partition.fetch.bytes,
    # Faust's consumer_max_fetch_size): the consumer buffers up to this much for every
    # partition it holds while the agents are busy: in a backfill, a large part of the
    # worker's peak above its resident memory (README, "Memory").
    consumer_max_fetch_kb: int = 1024
    # Decoded states kept in memory (least recently used dropped first); every state is
    # in the local store and its changelog whatever these are. The deal and account
    # stages have a key per deal or account, most of them idle for days, so caching
    # many buys little; the rep and team stages read every rep at each snapshot.
    state_cache_keys: int = 2_000
    rep_cache_keys: int = 10_000
    # RocksDB memory (agents/store_options.py): memtable size per database, and one
    # block cache shared by every database of the worker. Two memtables per database,
    # 48 databases at 8 partitions: 2 MiB each peaked 384 MiB at 1,000,000 open deals,
    # 4 MiB 413 MiB, with no CPU cost seen (README, Benchmarks).
    rocksdb_write_buffer_mb: int = 2
    rocksdb_block_cache_mb: int = 16
    # Blocks of this many KiB and more get their own mapping, returned to the kernel
    # when freed (agents/malloc_threshold.py); 0 leaves glibc's moving threshold.
    malloc_mmap_threshold_kb: int = THRESHOLD_KB
    # What the worker may use before it is killed (agents/memory_limit.py), for the
    # LatitudeWorkerMemoryHigh alert; 0: the control group's limit, when it has one.
    memory_limit_mb: int = 0
    # Every changelog record is a whole state, and batches of them compress about 3x:
    # fewer bytes for the worker to write, the broker to store and recovery to read.
    producer_compression: str = "lz4"
    live_clock: bool = True
    idle_advance_seconds: float = 60.0
    idle_partition_seconds: float = 10.0
    standby_replicas: int = 0
    per_rep_metrics: bool = True
    log_level: str = "info"
    # Kafka security for real clusters; PLAINTEXT suits the local broker.
    security_protocol: str = "PLAINTEXT"
    sasl_mechanism: str = ""
    sasl_username: str = ""
    sasl_password: str = ""
    ssl_cafile: str = ""

    @classmethod
    def load(cls, environ: dict[str, str] | None = None) -> Settings:
        """Build settings from the optional YAML file and the environment."""
        env = dict(os.environ if environ is None else environ)
        values: dict[str, Any] = {}
        config_file = env.get(f"{ENV_PREFIX}CONFIG", "")
        if config_file:
            values.update(_read_file(Path(config_file)))
        for f in fields(cls):
            raw = env.get(ENV_PREFIX + f.name.upper())
            if raw is not None:
                values[f.name] = _convert(f.type, raw, ENV_PREFIX + f.name.upper())
        settings = cls(**values)
        settings.check()
        return settings

    def check(self) -> None:
        """Reject values no process could run with."""
        if self.store not in {"rocksdb", "memory"}:
            raise SettingsError(
                f"{ENV_PREFIX}STORE: {self.store!r} is not a table store (use rocksdb or memory)"
            )
        if not 0 < self.web_port < 65536:
            raise SettingsError(f"{ENV_PREFIX}WEB_PORT: {self.web_port} is not a TCP port")
        if self.batch_max < 1:
            raise SettingsError(f"{ENV_PREFIX}BATCH_MAX: must be at least 1 record")
        if self.batch_seconds <= 0:
            raise SettingsError(f"{ENV_PREFIX}BATCH_SECONDS: must be more than 0 (e.g. 0.025)")
        if self.full_snapshot_seconds < 0:
            raise SettingsError(
                f"{ENV_PREFIX}FULL_SNAPSHOT_SECONDS: must be 0 or more (e.g. 30)"
            )
        if not 0 < self.snapshot_budget <= 1:
            raise SettingsError(
                f"{ENV_PREFIX}SNAPSHOT_BUDGET: {self.snapshot_budget} is not a share of the "
                "worker's time (more than 0, at most 1; e.g. 0.1)"
            )
        if self.aggregate_batch_seconds <= 0:
            raise SettingsError(
                f"{ENV_PREFIX}AGGREGATE_BATCH_SECONDS: must be more than 0 (e.g. 0.5)"
            )
        if self.fetch_wait_seconds < 0:
            raise SettingsError(f"{ENV_PREFIX}FETCH_WAIT_SECONDS: must be 0 or more (e.g. 0.025)")
        for name in ("state_cache_keys", "rep_cache_keys", "consumer_max_fetch_kb"):
            if getattr(self, name) < 1:
                raise SettingsError(f"{ENV_PREFIX}{name.upper()}: must be at least 1")
        for name in ("rocksdb_write_buffer_mb", "rocksdb_block_cache_mb"):
            if getattr(self, name) < 1:
                raise SettingsError(f"{ENV_PREFIX}{name.upper()}: must be at least 1 (MiB)")
        if not 0 <= self.malloc_mmap_threshold_kb <= MAX_THRESHOLD_KB:
            raise SettingsError(
                f"{ENV_PREFIX}MALLOC_MMAP_THRESHOLD_KB: {self.malloc_mmap_threshold_kb} is "
                f"outside 0-{MAX_THRESHOLD_KB} (KiB, glibc's largest; e.g. 128, or 0 for "
                "glibc's own)"
            )
        if self.memory_limit_mb < 0:
            raise SettingsError(
                f"{ENV_PREFIX}MEMORY_LIMIT_MB: {self.memory_limit_mb} is below 0 (MiB, e.g. "
                "512, or 0 for the control group's limit)"
            )
        if self.producer_compression not in COMPRESSION_TYPES:
            raise SettingsError(
                f"{ENV_PREFIX}PRODUCER_COMPRESSION: {self.producer_compression!r} is not one of "
                f"{', '.join(COMPRESSION_TYPES)}"
            )
        if self.topic_partitions < 1:
            raise SettingsError(f"{ENV_PREFIX}TOPIC_PARTITIONS: must be at least 1")
        protocols = {"PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"}
        if self.security_protocol not in protocols:
            raise SettingsError(
                f"{ENV_PREFIX}SECURITY_PROTOCOL: {self.security_protocol!r} is not one of "
                f"{', '.join(sorted(protocols))}"
            )

    def replace(self, **changes: Any) -> Settings:
        """A copy with ``changes`` applied."""
        return dataclasses.replace(self, **changes)

    def topic(self, name: str) -> str:
        """The full name of the topic whose default name is ``name``."""
        return self.topic_prefix + name


def _read_file(path: Path) -> dict[str, Any]:
    try:
        loaded = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except OSError as exc:
        raise SettingsError(f"{path}: cannot read settings file ({exc.strerror})") from exc
    except yaml.YAMLError as exc:
        raise SettingsError(f"{path}: not valid YAML ({exc})") from exc
    if not isinstance(loaded, dict):
        raise SettingsError(f"{path}: expected a mapping of setting names to values")
    known = {f.name: f for f in fields(Settings)}
    values: dict[str, Any] = {}
    for key, value in loaded.items():
        if key not in known:
            raise SettingsError(f"{path}: {key}: unknown setting (known: {', '.join(known)})")
        values[key] = _convert(known[key].type, str(value), f"{path}: {key}")
    return values


def _convert(type_name: Any, raw: str, where: str) -> Any:
    kind = type_name if isinstance(type_name, str) else type_name.__name__
    if kind == "bool":
        lowered = raw.strip().lower()
        if lowered in {"1", "true", "yes", "on"}:
            return True
        if lowered in {"0", "false", "no", "off"}:
            return False
        raise SettingsError(f"{where}: {raw!r} is not a boolean (use true or false)")
    try:
        if kind == "int":
            return int(raw)
        if kind == "float":
            return float(raw)
    except ValueError as exc:
        raise SettingsError(f"{where}: {raw!r} is not a valid {kind}") from exc
    return raw
