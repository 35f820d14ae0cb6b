"""Settings from the environment and a file (agents/settings.py): errors name the
variable or field and the fix."""

from __future__ import annotations

from pathlib import Path

import pytest

from agents.app import Latitude
from agents.settings import Settings, SettingsError
from agents.store_options import rocksdb_options


def test_the_environment_overrides_the_file_which_overrides_the_default(tmp_path: Path) -> None:
    config = tmp_path / "latitude.yaml"
    config.write_text("batch_max: 50\nbatch_seconds: 0.5\n", encoding="utf-8")
    settings = Settings.load({"LATITUDE_CONFIG": str(config), "LATITUDE_BATCH_MAX": "7"})
    assert (settings.batch_max, settings.batch_seconds) == (7, 0.5)
    assert Settings.load({}).batch_max == 1000


@pytest.mark.parametrize(
    "name, value", [("BATCH_MAX", "0"), ("BATCH_SECONDS", "0"), ("AGGREGATE_BATCH_SECONDS", "0"),
                    ("FETCH_WAIT_SECONDS", "-1")]
)
def test_a_batch_that_could_never_be_taken_is_refused(name: str, value: str) -> None:
    with pytest.raises(SettingsError, match=f"LATITUDE_{name}.*must be"):
        Settings.load({f"LATITUDE_{name}": value})


@pytest.mark.parametrize("value", ["0", "-0.1", "1.5"])
def test_a_snapshot_budget_that_is_not_a_share_of_time_is_refused(value: str) -> None:
    refused = f"LATITUDE_SNAPSHOT_BUDGET: {float(value)} is not a share"
    with pytest.raises(SettingsError, match=refused):
        Settings.load({"LATITUDE_SNAPSHOT_BUDGET": value})
    assert Settings.load({"LATITUDE_SNAPSHOT_BUDGET": "1"}).snapshot_budget == 1


@pytest.mark.parametrize("name", ["ROCKSDB_WRITE_BUFFER_MB", "ROCKSDB_BLOCK_CACHE_MB"])
def test_a_rocksdb_memory_bound_below_one_mib_is_refused(name: str) -> None:
    with pytest.raises(SettingsError, match=f"LATITUDE_{name}: must be at least 1"):
        Settings.load({f"LATITUDE_{name}": "0"})


@pytest.mark.parametrize("name", ["STATE_CACHE_KEYS", "REP_CACHE_KEYS", "CONSUMER_MAX_FETCH_KB"])
def test_a_cache_or_fetch_bound_of_zero_is_refused(name: str) -> None:
    with pytest.raises(SettingsError, match=f"LATITUDE_{name}: must be at least 1"):
        Settings.load({f"LATITUDE_{name}": "0"})
    assert getattr(Settings.load({f"LATITUDE_{name}": "3"}), name.lower()) == 3


def test_the_memory_bounds_reach_faust() -> None:
    options = rocksdb_options(Settings.load(
        {"LATITUDE_ROCKSDB_WRITE_BUFFER_MB": "16", "LATITUDE_ROCKSDB_BLOCK_CACHE_MB": "8"}))
    assert options["write_buffer_size"] == 16 << 20
    # Without it Faust's driver default is a 2 GiB cache for each database.
    assert options["block_cache_size"] == 8 << 20


def test_a_file_field_that_is_not_a_number_names_the_file_and_field(tmp_path: Path) -> None:
    config = tmp_path / "latitude.yaml"
    config.write_text("batch_max: many\n", encoding="utf-8")
    with pytest.raises(SettingsError, match=r"latitude\.yaml: batch_max: 'many' is not"):
        Settings.load({"LATITUDE_CONFIG": str(config)})


def test_an_unknown_compression_is_refused_with_the_codecs_kafka_has() -> None:
    with pytest.raises(SettingsError, match="LATITUDE_PRODUCER_COMPRESSION: 'lzma' is not one "
                                            "of none, gzip, snappy, lz4, zstd"):
        Settings.load({"LATITUDE_PRODUCER_COMPRESSION": "lzma"})


@pytest.mark.parametrize("setting, faust_value", [("lz4", "lz4"), ("none", None)])
def test_the_compression_reaches_the_producer(setting: str, faust_value: str | None) -> None:
    # The memory store: the RocksDB one would patch Faust for the rest of the session.
    settings = Settings.load({"LATITUDE_PRODUCER_COMPRESSION": setting, "LATITUDE_STORE": "memory"})
    app = Latitude(settings).app
    assert app.conf.producer_compression_type == faust_value


def test_the_fetch_bound_reaches_the_consumer() -> None:
    settings = Settings.load({"LATITUDE_CONSUMER_MAX_FETCH_KB": "256", "LATITUDE_STORE": "memory"})
    assert Latitude(settings).app.conf.consumer_max_fetch_size == 256 * 1024
    assert Latitude(Settings.load({"LATITUDE_STORE": "memory"})).app.conf.consumer_max_fetch_size \
        == 1 << 20  # Faust's and Kafka's default


@pytest.mark.parametrize("value", ["-1", "32769"])
def test_an_mmap_threshold_past_glibcs_own_largest_is_refused(value: str) -> None:
    with pytest.raises(SettingsError, match=f"LATITUDE_MALLOC_MMAP_THRESHOLD_KB: {value} is "
                                            "outside 0-32768"):
        Settings.load({"LATITUDE_MALLOC_MMAP_THRESHOLD_KB": value})
    assert Settings.load({}).malloc_mmap_threshold_kb == 128
