"""The published JSON Schemas: in step with the types, and they accept what decode accepts."""

from __future__ import annotations

import datetime as dt
import json
import shutil
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from schemas.decode import encode
from schemas.errors import Reason
from schemas.events import EVENT_TYPES
from schemas.jsonschema import BASE_ID, INDEX, OUTPUT_RECORDS, SCHEMA_DIR, drifted, main, write
from schemas.outputs import (
    Alert,
    AlertState,
    DeadLetter,
    KpiSnapshot,
    KpiValue,
    Scope,
    Severity,
    Status,
    Violation,
)
from tests.samples import EVENT_TYPE_NAMES, MISSING, valid_event

NOW = dt.datetime(2026, 11, 20, 10, tzinfo=dt.UTC)


def validator(name: str) -> jsonschema.protocols.Validator:
    schema = json.loads((SCHEMA_DIR / f"{name}.json").read_text(encoding="utf-8"))
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    return cls(schema, format_checker=cls.FORMAT_CHECKER)


# --- drift ---------------------------------------------------------------------------


def test_regenerated_files_are_byte_identical_to_the_published_ones(tmp_path: Path) -> None:
    write(tmp_path)
    generated = {path.name: path.read_bytes() for path in tmp_path.iterdir()}
    published = {path.name: path.read_bytes() for path in SCHEMA_DIR.glob("*.json")}
    assert generated == published, "run `python -m schemas.jsonschema` and commit schemas/json/"


def test_check_reports_nothing_on_the_published_files() -> None:
    assert drifted() == []
    assert main(["--check"]) == 0


def test_check_lists_changed_missing_and_stale_files(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    copy = tmp_path / "json"
    shutil.copytree(SCHEMA_DIR, copy)
    (copy / "violation.json").write_text("{}\n", encoding="utf-8")
    (copy / "alert.json").unlink()
    (copy / "deal.removed.json").write_text("{}\n", encoding="utf-8")
    assert drifted(copy) == ["alert.json", "deal.removed.json", "violation.json"]
    assert main(["--check", "--dir", str(copy)]) == 1
    assert "violation.json" in capsys.readouterr().err
    assert main(["--dir", str(copy)]) == 0
    assert drifted(copy) == []


def test_one_file_per_event_type_and_output_record_plus_an_index() -> None:
    names = {path.name for path in SCHEMA_DIR.glob("*.json")}
    expected = {f"{t}.json" for t in EVENT_TYPES} | {f"{r}.json" for r in OUTPUT_RECORDS}
    assert names == expected | {INDEX}
    index = json.loads((SCHEMA_DIR / INDEX).read_text(encoding="utf-8"))
    listed = {entry["schema"] for entry in index["inputs"] + index["outputs"]}
    assert listed == expected
    assert {"kpi_snapshot", "violation", "alert", "dead_letter"} <= set(OUTPUT_RECORDS)


@pytest.mark.parametrize("name", [*EVENT_TYPE_NAMES, *OUTPUT_RECORDS])
def test_every_schema_has_id_title_and_description(name: str) -> None:
    schema = json.loads((SCHEMA_DIR / f"{name}.json").read_text(encoding="utf-8"))
    assert schema["$id"] == f"{BASE_ID}{name}.json"
    assert schema["title"] == name
    assert schema["description"]
    assert schema["type"] == "object"


def test_constraints_are_published() -> None:
    discount = json.loads((SCHEMA_DIR / "discount.granted.json").read_text(encoding="utf-8"))
    pct = discount["properties"]["discount_pct"]
    assert (pct["minimum"], pct["maximum"]) == (0, 100)
    assert discount["properties"]["list_amount"]["minimum"] == 0
    assert discount["properties"]["schema_version"] == {"enum": [1]}
    assert discount["properties"]["type"] == {"enum": ["discount.granted"]}
    deal = json.loads((SCHEMA_DIR / "deal.updated.json").read_text(encoding="utf-8"))
    assert deal["properties"]["currency"]["pattern"] == "^[A-Z]{3}$"
    assert deal["properties"]["deal_id"]["minLength"] == 1
    dead = json.loads((SCHEMA_DIR / "dead_letter.json").read_text(encoding="utf-8"))
    assert sorted(dead["$defs"]["Reason"]["enum"]) == sorted(reason.value for reason in Reason)


# --- the schemas accept the samples and reject what decode rejects ----------------------


@pytest.mark.parametrize("type_name", EVENT_TYPE_NAMES)
def test_every_sample_event_validates_against_its_schema(type_name: str) -> None:
    validator(type_name).validate(valid_event(type_name))


@pytest.mark.parametrize(
    ("type_name", "overrides"),
    [
        ("discount.granted", {"discount_pct": 101}),
        ("discount.granted", {"discount_pct": -1}),
        ("discount.granted", {"list_amount": -5}),
        ("discount.granted", {"list_amount": "12"}),
        ("discount.granted", {"deal_id": ""}),
        ("discount.granted", {"event_id": MISSING}),
        ("discount.granted", {"schema_version": 2}),
        ("discount.granted", {"type": "deal.updated"}),
        ("deal.updated", {"stage": "won"}),
        ("deal.updated", {"currency": "euro"}),
        ("quota.set", {"period": "2026-Q5"}),
        ("survey.submitted", {"score": 100.5}),
        ("lead.qualified", {"icp_fit": 1}),
        ("note.logged", {"body": "x" * 100_001}),
    ],
)
def test_invalid_events_do_not_validate(type_name: str, overrides: dict[str, Any]) -> None:
    assert not validator(type_name).is_valid(valid_event(type_name, **overrides))


OUTPUT_SAMPLES: dict[str, Any] = {
    "kpi_snapshot": KpiSnapshot(
        scope=Scope.REP,
        id="rep-a1",
        team="team-a",
        stream_time=NOW,
        kpis={
            "autonomy_level": KpiValue(
                value=0.8, numerator=8, denominator=10, target=0.8, status=Status.OK
            ),
            "win_rate": KpiValue(
                value=None,
                numerator=0,
                denominator=0,
                target=None,
                status=Status.INSUFFICIENT_DATA,
            ),
        },
    ),
    "violation": Violation(
        violation_id="v-1",
        rule="discount_over_authority",
        severity=Severity.CRITICAL,
        rep_id="rep-a1",
        team="team-a",
        deal_id="deal-42",
        values={"discount_pct": 25.0, "limit_pct": 10.0, "approval_id": None},
        event_id="evt-1",
        occurred_at=NOW,
    ),
    "alert": Alert(
        alert_id="a-1",
        state=AlertState.FIRING,
        kpi="crm_hygiene",
        scope=Scope.TEAM,
        id="team-a",
        team="team-a",
        severity=Severity.WARNING,
        value=0.5,
        threshold=0.9,
        stream_time=NOW,
    ),
    "dead_letter": DeadLetter(
        reason=Reason.OUT_OF_RANGE,
        detail="$.discount_pct: expected float <= 100.0, got 101",
        topic="crm.discounts",
        partition=0,
        offset=42,
        timestamp_ms=None,
        rejected_at=NOW,
    ),
}


@pytest.mark.parametrize("name", list(OUTPUT_RECORDS))
def test_encoded_output_records_validate_against_their_schema(name: str) -> None:
    assert isinstance(OUTPUT_SAMPLES[name], OUTPUT_RECORDS[name])
    validator(name).validate(json.loads(encode(OUTPUT_SAMPLES[name])))


def test_an_invalid_output_record_does_not_validate() -> None:
    record = json.loads(encode(OUTPUT_SAMPLES["dead_letter"]))
    assert not validator("dead_letter").is_valid(record | {"reason": "duplicate"})
    assert not validator("alert").is_valid({"state": "firing"})
