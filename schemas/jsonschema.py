"""The published contract: one JSON Schema file per input event type and per output
record, generated from the record types into ``schemas/json/``, plus ``index.json``.

``python -m schemas.jsonschema`` rewrites the files; ``--check`` rewrites nothing and
exits 1 listing the files that drifted from the types (changed, missing or stale).
"""

from __future__ import annotations

import argparse
import inspect
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import msgspec

from schemas.events import EVENT_TYPES, SUPPORTED_VERSIONS, TOPIC_TYPES
from schemas.outputs import Alert, DeadLetter, KpiSnapshot, Violation

SCHEMA_DIR = Path(__file__).resolve().parent / "json"
DIALECT = "https://json-schema.org/draft/2020-12/schema"
# An identifier, not a location: the files are published with the code and on the topics.
BASE_ID = "https://latitude.example/schemas/v1/"
INDEX = "index.json"

OUTPUT_RECORDS: dict[str, type[msgspec.Struct]] = {
    "kpi_snapshot": KpiSnapshot,
    "violation": Violation,
    "alert": Alert,
    "dead_letter": DeadLetter,
}

_INPUT_NOTE = (
    "Input event, topic `{topic}`. A record that does not validate, or whose occurred_at "
    "(or a deal's created_at) lies outside the accepted window (by default "
    "[2000-01-01, 2100-01-01)), goes to the dead-letter topic with a reason code."
)
_FAMILY_OF = {name: family for family, names in TOPIC_TYPES.items() for name in names}


def record_schema(name: str, cls: type[msgspec.Struct], note: str = "") -> dict[str, Any]:
    """A self-contained JSON Schema document for the record type ``cls``, named ``name``."""
    generated = msgspec.json.schema(cls)
    definitions: dict[str, Any] = generated["$defs"]
    body = definitions.pop(cls.__name__)
    description = " ".join(part for part in (body.pop("description", ""), note) if part)
    body.pop("title", None)
    document = {
        "$schema": DIALECT,
        "$id": f"{BASE_ID}{name}.json",
        "title": name,
        "description": description,
        **body,
    }
    if definitions:
        document["$defs"] = dict(sorted(definitions.items()))
    return _clean_descriptions(document)


def _clean_descriptions(node: Any) -> Any:
    # Python 3.13 dedents docstrings and 3.11 does not: clean them so the files match.
    if isinstance(node, dict):
        return {
            key: inspect.cleandoc(value)
            if key == "description" and isinstance(value, str)
            else _clean_descriptions(value)
            for key, value in node.items()
        }
    if isinstance(node, list):
        return [_clean_descriptions(item) for item in node]
    return node


def schema_documents() -> dict[str, dict[str, Any]]:
    """Every published file name with its document, the index included."""
    documents = {
        f"{event_type}.json": record_schema(
            event_type, cls, _INPUT_NOTE.format(topic=_FAMILY_OF[event_type])
        )
        for event_type, cls in EVENT_TYPES.items()
    }
    documents |= {f"{name}.json": record_schema(name, cls) for name, cls in OUTPUT_RECORDS.items()}
    documents[INDEX] = _index()
    return documents


def _index() -> dict[str, Any]:
    return {
        "$id": f"{BASE_ID}{INDEX}",
        "title": "Latitude record schemas",
        "description": "Every published schema: input events by type and topic, and outputs.",
        "schema_versions": sorted(SUPPORTED_VERSIONS),
        "inputs": [
            {"type": name, "topic": _FAMILY_OF[name], "schema": f"{name}.json"}
            for name in EVENT_TYPES
        ],
        "outputs": [{"record": name, "schema": f"{name}.json"} for name in OUTPUT_RECORDS],
    }


def render(document: dict[str, Any]) -> str:
    """The exact text of a schema file."""
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


def write(directory: Path = SCHEMA_DIR) -> list[str]:
    """Rewrite every schema file in ``directory``, remove stale ones; returns the names
    that changed."""
    directory.mkdir(parents=True, exist_ok=True)
    changed = drifted(directory)
    expected = schema_documents()
    for name, document in expected.items():
        (directory / name).write_text(render(document), encoding="utf-8")
    for stale in set(_existing(directory)) - set(expected):
        (directory / stale).unlink()
    return changed


def drifted(directory: Path = SCHEMA_DIR) -> list[str]:
    """Names of the files in ``directory`` that differ from the types: changed, missing
    or no longer generated."""
    expected = {name: render(document) for name, document in schema_documents().items()}
    existing = _existing(directory)
    changed = [
        name for name, text in expected.items() if name not in existing or existing[name] != text
    ]
    return sorted(changed + [name for name in existing if name not in expected])


def _existing(directory: Path) -> dict[str, str]:
    if not directory.is_dir():
        return {}
    return {path.name: path.read_text(encoding="utf-8") for path in directory.glob("*.json")}


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: regenerate the schema files, or with ``--check`` report drift."""
    parser = argparse.ArgumentParser(prog="python -m schemas.jsonschema", description=__doc__)
    parser.add_argument("--check", action="store_true", help="report drift, write nothing")
    parser.add_argument("--dir", type=Path, default=SCHEMA_DIR, help="schema directory")
    args = parser.parse_args(argv)
    if args.check:
        stale = drifted(args.dir)
        for name in stale:
            print(f"drifted: {args.dir / name}", file=sys.stderr)
        if stale:
            print(
                "run `python -m schemas.jsonschema` (make schemas) to regenerate", file=sys.stderr
            )
        return 1 if stale else 0
    for name in write(args.dir):
        print(f"wrote {args.dir / name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
