"""Every table's changelog is among the topics created before Faust starts."""

from __future__ import annotations

from agents.app import Latitude
from agents.pipeline import RECOVERY_BUFFER_RECORDS
from agents.settings import Settings
from agents.topics import TABLES, changelog_topic, topic_specs


def test_the_changelog_of_every_table_is_created_up_front_and_compacted() -> None:
    settings = Settings.load({"LATITUDE_APP_ID": "lat-test"})
    app = Latitude(settings).app
    assert set(app.tables) == set(TABLES)
    specs = {spec.name: spec for spec in topic_specs(settings)}
    for name, table in app.tables.items():
        assert table.changelog_topic.get_topic_name() == changelog_topic(settings, name)
        assert specs[changelog_topic(settings, name)].configs()["cleanup.policy"] == "compact"


def test_every_table_rebuilds_in_small_buffers_of_records() -> None:
    # Rep states run to 100 KB: Faust's 1,000-record buffer held ~110 MB of them.
    app = Latitude(Settings.load({"LATITUDE_APP_ID": "lat-test"})).app
    assert {table.recovery_buffer_size for table in app.tables.values()} == {
        RECOVERY_BUFFER_RECORDS}
