"""Why an input record is rejected: the reason codes, the decode error, and the diagnosis
of a record the compiled decoder refused (the error path only; precedence in
:mod:`schemas.decode`).

Details name the JSON path and what was expected; they may show a number or a type name
but never a string from the record, so they are safe for logs, metrics and headers.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from enum import Enum, StrEnum
from functools import cache
from typing import Any, get_args

import msgspec

from schemas.events import EVENT_TYPES, SUPPORTED_VERSIONS, TOPIC_TYPES


class Reason(StrEnum):
    """Dead-letter reason codes: a small fixed set, used as a metric label and Kafka header.

    Duplicates are not here: a duplicate is dropped and counted, never dead-lettered.
    """

    OVERSIZED = "oversized"
    INVALID_UTF8 = "invalid_utf8"
    NOT_JSON = "not_json"
    NON_FINITE_NUMBER = "non_finite_number"
    NOT_OBJECT = "not_object"
    MISSING_FIELD = "missing_field"
    UNKNOWN_TYPE = "unknown_type"
    WRONG_TOPIC = "wrong_topic"
    UNKNOWN_SCHEMA_VERSION = "unknown_schema_version"
    WRONG_TYPE = "wrong_type"
    OUT_OF_RANGE = "out_of_range"
    INVALID_VALUE = "invalid_value"
    TIMESTAMP_WITHOUT_ZONE = "timestamp_without_zone"
    INVALID_TIMESTAMP = "invalid_timestamp"
    ABSURD_TIMESTAMP = "absurd_timestamp"
    LATE = "late"  # raised by the engine (event time behind the watermark), never by decode


class InvalidEvent(Exception):
    """An input record that cannot be accepted, with its reason code and a safe detail.

    ``detail`` says what was wrong and where (a JSON path); it never carries free text
    from the record, so it may go to logs and Kafka headers.
    """

    def __init__(self, reason: Reason, detail: str) -> None:
        super().__init__(reason, detail)
        self.reason = reason
        self.detail = detail

    def __str__(self) -> str:
        return f"{self.reason}: {self.detail}"


def oversized(size: int, max_bytes: int) -> InvalidEvent:
    """The error for a record larger than the limit (found before any parsing)."""
    return InvalidEvent(Reason.OVERSIZED, f"{size} bytes, more than the limit of {max_bytes}")


def wrong_topic(event_type: str, topic_family: str) -> InvalidEvent:
    """The error for a known event type read from a topic of another family."""
    carried = ", ".join(sorted(TOPIC_TYPES.get(topic_family, ()))) or "no event types"
    return InvalidEvent(
        Reason.WRONG_TOPIC,
        f"$.type: {event_type} does not belong on {topic_family} (it carries {carried})",
    )


def diagnose(raw: bytes, error: BaseException, topic_family: str | None) -> InvalidEvent:
    """Why the compiled decoder refused ``raw`` (raising ``error``): the first reason that
    applies, in the documented precedence."""
    if raw is None:
        return InvalidEvent(Reason.NOT_JSON, "the record has no value (a tombstone)")
    if not isinstance(raw, bytes | bytearray | memoryview):
        return InvalidEvent(Reason.NOT_JSON, f"the record value is {type(raw).__name__}, not bytes")
    try:
        fields = _require_object(_parse_any(raw, str(error)))
        event_type = _check_type(fields, topic_family)
        _check_version(fields)
    except InvalidEvent as invalid:
        return invalid
    return _field_error(str(error), fields, EVENT_TYPES[event_type])


# --- syntax: UTF-8, JSON, numbers, the top level ------------------------------------


def _parse_any(raw: bytes, typed_message: str) -> Any:
    try:
        text = str(raw, "utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidEvent(Reason.INVALID_UTF8, f"byte {exc.start} is not valid UTF-8") from None
    try:
        return msgspec.json.decode(raw)
    except RecursionError:
        raise InvalidEvent(Reason.NOT_JSON, "nested deeper than the decoder allows") from None
    except msgspec.ValidationError as exc:  # untyped decoding fails only on numbers
        raise _number_error(str(exc), _number_path(typed_message)) from None
    except msgspec.DecodeError as exc:
        raise _syntax_error(text, str(exc)) from None


def _syntax_error(text: str, message: str) -> InvalidEvent:
    literal, key = _non_finite_literal(text)
    if literal:
        where = f" at $.{key}" if key else ""
        return InvalidEvent(Reason.NON_FINITE_NUMBER, f"{literal} is not a JSON number{where}")
    if message.startswith("Input data was truncated"):
        what = "the record is empty" if not text.strip() else "the JSON text is truncated"
        return InvalidEvent(Reason.NOT_JSON, what)
    # msgspec's "JSON is malformed: <what> (byte n)" quotes nothing from the record.
    return InvalidEvent(Reason.NOT_JSON, message)


class _Constant(str):
    """A NaN / Infinity literal found by the lenient standard-library parser."""


def _non_finite_literal(text: str) -> tuple[str | None, str | None]:
    """The first NaN/Infinity literal in otherwise valid JSON, and its top-level key when
    that key is a field name Latitude knows."""
    found: list[str] = []

    def constant(name: str) -> _Constant:
        found.append(name)
        return _Constant(name)

    try:
        document = json.loads(text, parse_constant=constant)
    except (ValueError, RecursionError):
        return None, None
    if not found:
        return None, None
    items = document.items() if isinstance(document, dict) else ()
    keys = [k for k, v in items if isinstance(v, _Constant) and k in _known_fields()]
    return found[0], (keys[0] if keys else None)


def _number_path(typed_message: str) -> str:
    # The typed decoder's path names the field; the untyped decoder's does not.
    at = _AT_PATH.search(typed_message)
    return at["path"] if at and _NUMBER_PROBLEM.match(typed_message) else ""


_NUMBER_PROBLEM = re.compile(r"Number out of range|Integer value out of range")


def _number_error(problem: str, path: str) -> InvalidEvent:
    where = f"{path}: " if path else ""
    if problem.startswith("Number out of range"):
        return InvalidEvent(
            Reason.NON_FINITE_NUMBER, f"{where}a number overflows a 64-bit float (infinity)"
        )
    return InvalidEvent(Reason.OUT_OF_RANGE, f"{where}an integer too large to decode")


def _require_object(document: Any) -> dict[str, Any]:
    if isinstance(document, dict):
        return document
    raise InvalidEvent(Reason.NOT_OBJECT, f"the top level is {_json_type(document)}, not an object")


# --- envelope: type, topic, schema version ------------------------------------------

_TYPE_NAME = re.compile(r"[a-z][a-z0-9_]*(?:\.[a-z0-9_]+)*")


def _check_type(fields: dict[str, Any], topic_family: str | None) -> str:
    if "type" not in fields:
        raise InvalidEvent(Reason.MISSING_FIELD, "$.type: required field is missing")
    event_type = fields["type"]
    if not isinstance(event_type, str):
        raise InvalidEvent(Reason.WRONG_TYPE, f"$.type: expected str, got {_json_type(event_type)}")
    if event_type not in EVENT_TYPES:
        shown = _type_name(event_type)
        raise InvalidEvent(Reason.UNKNOWN_TYPE, f"$.type: {shown} is not a known event type")
    if topic_family is not None and event_type not in TOPIC_TYPES.get(topic_family, ()):
        raise wrong_topic(event_type, topic_family)
    return event_type


def _type_name(event_type: str) -> str:
    # Shown only when it looks like a type name: otherwise it is free text of the record.
    if len(event_type) <= 64 and _TYPE_NAME.fullmatch(event_type):
        return event_type
    return f"a {len(event_type)}-character string"


def _check_version(fields: dict[str, Any]) -> None:
    if "schema_version" not in fields:
        raise InvalidEvent(Reason.MISSING_FIELD, "$.schema_version: required field is missing")
    version = fields["schema_version"]
    if isinstance(version, bool) or not isinstance(version, int):
        raise InvalidEvent(
            Reason.WRONG_TYPE, f"$.schema_version: expected int, got {_json_type(version)}"
        )
    if version not in SUPPORTED_VERSIONS:
        supported = ", ".join(map(str, sorted(SUPPORTED_VERSIONS)))
        raise InvalidEvent(
            Reason.UNKNOWN_SCHEMA_VERSION,
            f"$.schema_version: {_number(version)} is not supported (supported: {supported})",
        )


# --- fields: map the compiled decoder's message to a reason ---------------------------

_AT_PATH = re.compile(r" - at `(?P<path>\$[^`]*)`$")
_Describe = Callable[[re.Match[str], str, Any, type], tuple[Reason, str]]
_MISSING = object()


def _field_error(message: str, fields: dict[str, Any], cls: type) -> InvalidEvent:
    at = _AT_PATH.search(message)
    path, problem = (at["path"], message[: at.start()]) if at else ("$", message)
    value = fields.get(path[2:], _MISSING) if path.startswith("$.") else _MISSING
    for pattern, describe in _RULES:
        match = pattern.match(problem)
        if match:
            return InvalidEvent(*describe(match, path, value, cls))
    return InvalidEvent(Reason.INVALID_VALUE, f"{path}: {_redact(problem)}")


def _missing(m: re.Match[str], path: str, value: Any, cls: type) -> tuple[Reason, str]:
    return Reason.MISSING_FIELD, f"{path}.{m['field']}: required field is missing"


def _wrong_type(m: re.Match[str], path: str, value: Any, cls: type) -> tuple[Reason, str]:
    got = m["got"] or (_json_type(value) if value is not _MISSING else "another type")
    return Reason.WRONG_TYPE, f"{path}: expected {m['expected']}, got {got}"


def _bound(m: re.Match[str], path: str, value: Any, cls: type) -> tuple[Reason, str]:
    got = f", got {_number(value)}" if value is not _MISSING else ""
    return Reason.OUT_OF_RANGE, f"{path}: expected {m['type']} {m['op']} {m['limit']}{got}"


def _length(m: re.Match[str], path: str, value: Any, cls: type) -> tuple[Reason, str]:
    got = f", got length {len(value)}" if isinstance(value, str | list | dict) else ""
    # Too long is a size problem; too short (an empty id) is a bad value.
    reason = Reason.OUT_OF_RANGE if m["op"] == "<=" else Reason.INVALID_VALUE
    return reason, f"{path}: expected {m['type']} of length {m['op']} {m['limit']}{got}"


def _pattern(m: re.Match[str], path: str, value: Any, cls: type) -> tuple[Reason, str]:
    return Reason.INVALID_VALUE, f"{path}: does not match the pattern {m['regex']}"


def _enum(m: re.Match[str], path: str, value: Any, cls: type) -> tuple[Reason, str]:
    if path == "$.type":
        return Reason.UNKNOWN_TYPE, "$.type: not a known event type"
    if path == "$.schema_version":
        return Reason.UNKNOWN_SCHEMA_VERSION, "$.schema_version: not a supported version"
    allowed = _allowed_values(cls, path[2:])
    return Reason.INVALID_VALUE, f"{path}: not one of {allowed or 'the allowed values'}"


def _no_zone(m: re.Match[str], path: str, value: Any, cls: type) -> tuple[Reason, str]:
    return Reason.TIMESTAMP_WITHOUT_ZONE, f"{path}: a date-time without a UTC offset (Z or ±hh:mm)"


def _bad_time(m: re.Match[str], path: str, value: Any, cls: type) -> tuple[Reason, str]:
    what = _TIME_KINDS.get(m.groupdict().get("what") or "", "timestamp")
    return Reason.INVALID_TIMESTAMP, f"{path}: not a valid {what}"


_TIME_KINDS = {
    "datetime": "RFC 3339 date-time",
    "date": "RFC 3339 date (YYYY-MM-DD)",
    "time": "RFC 3339 time",
    "epoch timestamp": "epoch timestamp",
}


def _numeric(m: re.Match[str], path: str, value: Any, cls: type) -> tuple[Reason, str]:
    invalid = _number_error(m.string, path)
    return invalid.reason, invalid.detail


def _malformed(m: re.Match[str], path: str, value: Any, cls: type) -> tuple[Reason, str]:
    return Reason.NOT_JSON, m.string


def _unknown_field(m: re.Match[str], path: str, value: Any, cls: type) -> tuple[Reason, str]:
    return Reason.INVALID_VALUE, f"{path}: contains a field that is not allowed"


_RULES: tuple[tuple[re.Pattern[str], _Describe], ...] = tuple(
    (re.compile(pattern), describe)
    for pattern, describe in (
        (r"Object missing required field `(?P<field>[^`]+)`", _missing),
        (r"Expected `(?P<expected>[^`]+)` with a timezone component", _no_zone),
        (r"Expected `[^`]+` with no timezone component", _bad_time),
        (r"Expected `(?P<expected>[^`]+)`(?:, got `(?P<got>[^`]+)`)?$", _wrong_type),
        (r"Expected `str` matching regex (?P<regex>.+)$", _pattern),
        (r"Expected `(?P<type>\w+)` of length (?P<op><=|>=) (?P<limit>\d+)", _length),
        (r"Expected `(?P<type>\w+)` (?P<op><=|>=|<|>) (?P<limit>\S+)$", _bound),
        (r"Invalid (?:enum )?value", _enum),
        (r"Invalid RFC3339 encoded (?P<what>datetime|date|time)", _bad_time),
        (r"Invalid (?P<what>epoch timestamp)|Timestamp is out of range", _bad_time),
        (_NUMBER_PROBLEM.pattern, _numeric),
        (r"JSON is malformed|Input data was truncated", _malformed),
        (r"Object contains unknown field", _unknown_field),
    )
)


# --- helpers ---------------------------------------------------------------------------


def _json_type(value: Any) -> str:
    """The JSON type name of a value from untyped decoding."""
    if value is None:
        return "null"
    names = {bool: "bool", int: "int", float: "float", str: "str", list: "array", dict: "object"}
    return names.get(type(value), type(value).__name__)


def _number(value: Any) -> str:
    """A number as shown in a detail; never a string from the record."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return f"a value of type {_json_type(value)}"
    if isinstance(value, int) and abs(value) >= 10**18:
        return "an integer of more than 18 digits"
    return repr(value)


def _redact(problem: str) -> str:
    """A decoder message with anything quoted (it may be record text) blanked out."""
    return re.sub(r"'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\"|`[^`]*`", "…", problem)[:200]


@cache
def _allowed_values(cls: type, name: str) -> str:
    for field in msgspec.structs.fields(cls):
        if field.encode_name != name:
            continue
        for candidate in (field.type, *get_args(field.type)):
            if isinstance(candidate, type) and issubclass(candidate, Enum):
                return ", ".join(str(member.value) for member in candidate)
    return ""


@cache
def _known_fields() -> frozenset[str]:
    return frozenset(
        field.encode_name for cls in EVENT_TYPES.values() for field in msgspec.structs.fields(cls)
    )
