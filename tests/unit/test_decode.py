"""The boundary: every valid event decodes, every kind of bad input gets its own reason."""

from __future__ import annotations

import datetime as dt
import pickle
from typing import Any

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from schemas.decode import EVENT_TIME_WINDOW, MAX_EVENT_BYTES, TimeWindow, decode, encode
from schemas.errors import InvalidEvent, Reason
from schemas.events import EVENT_TYPES, DealUpdated, DiscountGranted
from tests.samples import (
    EVENT_TYPE_NAMES,
    FAMILY_OF,
    MISSING,
    encode_json,
    required_fields,
    valid_event,
)

SECRET = "PII<Jane Doe, +44 20 7946 0958, diagnosis: flu>"


def discount(**overrides: Any) -> bytes:
    return encode_json(valid_event("discount.granted", **overrides))


def note(**overrides: Any) -> bytes:
    return encode_json(valid_event("note.logged", **overrides))


def literal(field: str, text: bytes) -> bytes:
    """A discount whose ``field`` holds ``text`` verbatim (for what orjson cannot write)."""
    return discount(**{field: "@@"}).replace(b'"@@"', text)


def rejection(raw: Any, topic_family: str | None = None, **options: Any) -> InvalidEvent:
    with pytest.raises(InvalidEvent) as caught:
        decode(raw, topic_family, **options)
    return caught.value


# --- valid input --------------------------------------------------------------------


@pytest.mark.parametrize("type_name", EVENT_TYPE_NAMES)
def test_every_sample_decodes_to_its_struct(type_name: str) -> None:
    event = decode(encode_json(valid_event(type_name)), FAMILY_OF[type_name])
    assert type(event) is EVENT_TYPES[type_name]
    assert event.event_id == f"evt-{type_name}-0001"
    assert event.occurred_at == dt.datetime(2026, 11, 20, 10, tzinfo=dt.UTC)


@pytest.mark.parametrize("type_name", EVENT_TYPE_NAMES)
def test_required_fields_alone_are_enough(type_name: str) -> None:
    full = valid_event(type_name)
    minimal = {name: full[name] for name in required_fields(type_name)}
    assert type(decode(encode_json(minimal), FAMILY_OF[type_name])) is EVENT_TYPES[type_name]


def test_decoded_values_are_typed() -> None:
    event = decode(encode_json(valid_event("deal.updated")))
    assert isinstance(event, DealUpdated)
    assert event.amount == 48_000.0
    assert event.expected_close_date == dt.date(2026, 12, 15)
    assert event.created_at.utcoffset() == dt.timedelta(hours=2)


def test_unknown_fields_are_ignored_for_forward_compatibility() -> None:
    assert isinstance(decode(discount(added_in_v1_1={"nested": [1, 2]})), DiscountGranted)


def test_integral_float_and_int_amounts_both_decode() -> None:
    assert decode(discount(list_amount=50_000)).list_amount == 50_000.0


@pytest.mark.parametrize("when", ["2026-11-20T10:00:00+05:30", "2026-11-20T10:00:00.123456-08:00"])
def test_any_utc_offset_is_accepted(when: str) -> None:
    assert decode(discount(occurred_at=when)).occurred_at.utcoffset() is not None


def test_window_bounds_are_start_inclusive_end_exclusive() -> None:
    assert decode(discount(occurred_at="2000-01-01T00:00:00Z"))
    assert rejection(discount(occurred_at="2100-01-01T00:00:00Z")).reason == "absurd_timestamp"


def test_record_exactly_at_the_size_limit_is_decoded() -> None:
    raw = discount()
    assert decode(raw, max_bytes=len(raw))
    assert rejection(raw, max_bytes=len(raw) - 1).reason == "oversized"


# --- each kind of bad input, its own reason -----------------------------------------

BAD_INPUTS: dict[str, tuple[bytes, str | None, Reason]] = {
    "not json": (b"this is not json", None, Reason.NOT_JSON),
    "empty record": (b"", None, Reason.NOT_JSON),
    "truncated": (discount()[:-10], None, Reason.NOT_JSON),
    "trailing garbage": (discount() + b" x", None, Reason.NOT_JSON),
    "byte order mark": (b"\xef\xbb\xbf" + discount(), None, Reason.NOT_JSON),
    "too deeply nested": (b'{"a":' * 100_000, None, Reason.NOT_JSON),
    "array": (b"[1, 2, 3]", None, Reason.NOT_OBJECT),
    "empty array": (b"[]", None, Reason.NOT_OBJECT),
    "string": (b'"x"', None, Reason.NOT_OBJECT),
    "number": (b"1", None, Reason.NOT_OBJECT),
    "null": (b"null", None, Reason.NOT_OBJECT),
    "no event_id": (discount(event_id=MISSING), None, Reason.MISSING_FIELD),
    "no type": (discount(type=MISSING), None, Reason.MISSING_FIELD),
    "no schema_version": (discount(schema_version=MISSING), None, Reason.MISSING_FIELD),
    "no occurred_at": (discount(occurred_at=MISSING), None, Reason.MISSING_FIELD),
    "no source": (discount(source=MISSING), None, Reason.MISSING_FIELD),
    "empty object": (b"{}", None, Reason.MISSING_FIELD),
    "unknown type": (discount(type="discount.revoked"), None, Reason.UNKNOWN_TYPE),
    "unknown schema_version": (discount(schema_version=99), None, Reason.UNKNOWN_SCHEMA_VERSION),
    "schema_version 0": (discount(schema_version=0), None, Reason.UNKNOWN_SCHEMA_VERSION),
    "amount as string": (discount(list_amount="12"), None, Reason.WRONG_TYPE),
    "amount as null": (discount(list_amount=None), None, Reason.WRONG_TYPE),
    "type as number": (discount(type=7), None, Reason.WRONG_TYPE),
    "schema_version as string": (discount(schema_version="1"), None, Reason.WRONG_TYPE),
    "schema_version as float": (discount(schema_version=1.0), None, Reason.WRONG_TYPE),
    "bool for int": (discount(schema_version=True), None, Reason.WRONG_TYPE),
    "bool for float": (discount(discount_pct=True), None, Reason.WRONG_TYPE),
    "int for bool": (
        encode_json(valid_event("lead.qualified", icp_fit=1)),
        None,
        Reason.WRONG_TYPE,
    ),
    "id as number": (discount(deal_id=42), None, Reason.WRONG_TYPE),
    "discount 101": (discount(discount_pct=101), None, Reason.OUT_OF_RANGE),
    "discount -1": (discount(discount_pct=-1), None, Reason.OUT_OF_RANGE),
    "negative amount": (discount(list_amount=-5), None, Reason.OUT_OF_RANGE),
    "score 100.5": (
        encode_json(valid_event("survey.submitted", score=100.5)),
        None,
        Reason.OUT_OF_RANGE,
    ),
    "id too long": (discount(deal_id="d" * 129), None, Reason.OUT_OF_RANGE),
    "note body over 100k chars": (note(body="x" * 100_001), None, Reason.OUT_OF_RANGE),
    "NaN": (literal("discount_pct", b"NaN"), None, Reason.NON_FINITE_NUMBER),
    "Infinity": (literal("discount_pct", b"Infinity"), None, Reason.NON_FINITE_NUMBER),
    "-Infinity": (literal("list_amount", b"-Infinity"), None, Reason.NON_FINITE_NUMBER),
    "1e999": (literal("list_amount", b"1e999"), None, Reason.NON_FINITE_NUMBER),
    "-1e999": (literal("discount_pct", b"-1e999"), None, Reason.NON_FINITE_NUMBER),
    "400-digit amount": (literal("list_amount", b"1" + b"0" * 400), None, Reason.NON_FINITE_NUMBER),
    "NaN in an unknown field": (literal("extra", b"NaN"), None, Reason.NON_FINITE_NUMBER),
    "empty id": (discount(deal_id=""), None, Reason.INVALID_VALUE),
    "bad enum value": (
        encode_json(valid_event("deal.updated", stage="won")),
        None,
        Reason.INVALID_VALUE,
    ),
    "currency pattern": (
        encode_json(valid_event("deal.updated", currency="euro")),
        None,
        Reason.INVALID_VALUE,
    ),
    "period pattern": (
        encode_json(valid_event("quota.set", period="2026-Q5")),
        None,
        Reason.INVALID_VALUE,
    ),
    "timestamp without zone": (
        discount(occurred_at="2026-11-20T10:00:00"),
        None,
        Reason.TIMESTAMP_WITHOUT_ZONE,
    ),
    "created_at without zone": (
        encode_json(valid_event("deal.updated", created_at="2026-10-01T09:30:00")),
        None,
        Reason.TIMESTAMP_WITHOUT_ZONE,
    ),
    "unparseable timestamp": (discount(occurred_at="yesterday"), None, Reason.INVALID_TIMESTAMP),
    "date for timestamp": (discount(occurred_at="2026-11-20"), None, Reason.INVALID_TIMESTAMP),
    "timestamp offset +25:00": (
        discount(occurred_at="2026-11-20T10:00:00+25:00"),
        None,
        Reason.INVALID_TIMESTAMP,
    ),
    "timestamp as number": (discount(occurred_at=1_763_632_800), None, Reason.WRONG_TYPE),
    "impossible date": (
        encode_json(valid_event("deal.updated", expected_close_date="2026-02-30")),
        None,
        Reason.INVALID_TIMESTAMP,
    ),
    "year 9999": (discount(occurred_at="9999-01-01T00:00:00Z"), None, Reason.ABSURD_TIMESTAMP),
    "year 1970": (discount(occurred_at="1970-01-01T00:00:00Z"), None, Reason.ABSURD_TIMESTAMP),
    "created_at year 1900": (
        encode_json(valid_event("deal.updated", created_at="1900-01-01T00:00:00Z")),
        None,
        Reason.ABSURD_TIMESTAMP,
    ),
    "2 MB payload": (note(body="x" * 2_000_000), None, Reason.OVERSIZED),
    "2 MB of garbage": (b"\xff" * 2_000_000, None, Reason.OVERSIZED),
    "invalid UTF-8 in a string": (
        note(body="@@").replace(b"@@", b"\xff\xfe\xfa"),
        None,
        Reason.INVALID_UTF8,
    ),
    "invalid UTF-8 outside strings": (b"\xff" + discount(), None, Reason.INVALID_UTF8),
    "wrong topic": (discount(), "crm.deals", Reason.WRONG_TOPIC),
    "topic family with no events": (discount(), "latitude.alerts", Reason.WRONG_TOPIC),
}


@pytest.mark.parametrize("case", list(BAD_INPUTS))
def test_bad_input_gets_its_exact_reason(case: str) -> None:
    raw, family, reason = BAD_INPUTS[case]
    invalid = rejection(raw, family)
    assert invalid.reason is reason, invalid
    assert invalid.detail


def test_every_decode_reason_has_a_bad_input_case() -> None:
    assert {reason for _, _, reason in BAD_INPUTS.values()} == set(Reason) - {Reason.LATE}


@pytest.mark.parametrize(
    ("type_name", "field"),
    [(t, f) for t in EVENT_TYPE_NAMES for f in required_fields(t)],
)
def test_every_missing_required_field_is_named(type_name: str, field: str) -> None:
    raw = encode_json(valid_event(type_name, **{field: MISSING}))
    invalid = rejection(raw, FAMILY_OF[type_name])
    assert (invalid.reason, invalid.detail) == (
        Reason.MISSING_FIELD,
        f"$.{field}: required field is missing",
    )


def test_tombstone_is_not_json() -> None:
    assert rejection(None).reason is Reason.NOT_JSON


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (discount(discount_pct=101), "$.discount_pct: expected float <= 100.0, got 101"),
        (discount(list_amount=-5), "$.list_amount: expected float >= 0.0, got -5"),
        (discount(list_amount="12"), "$.list_amount: expected float, got str"),
        (discount(schema_version=99), "$.schema_version: 99 is not supported (supported: 1)"),
        (discount(type="discount.revoked"), "$.type: discount.revoked is not a known event type"),
        (literal("discount_pct", b"NaN"), "NaN is not a JSON number at $.discount_pct"),
        (literal("list_amount", b"1e999"), "$.list_amount: a number overflows a 64-bit float"),
        (discount(deal_id=""), "$.deal_id: expected str of length >= 1, got length 0"),
        (
            encode_json(valid_event("deal.updated", stage="won")),
            "$.stage: not one of prospecting, qualification, proposal, negotiation, "
            "closed_won, closed_lost",
        ),
        (
            discount(occurred_at="2026-11-20T10:00:00"),
            "$.occurred_at: a date-time without a UTC offset (Z or ±hh:mm)",
        ),
        (
            discount(occurred_at="9999-01-01T00:00:00Z"),
            "$.occurred_at: 9999-01-01T00:00:00+00:00 is outside "
            "[2000-01-01T00:00:00+00:00, 2100-01-01T00:00:00+00:00)",
        ),
    ],
)
def test_detail_says_what_and_where(raw: bytes, expected: str) -> None:
    assert rejection(raw).detail.startswith(expected)


def test_wrong_topic_detail_names_both_families_types() -> None:
    assert rejection(discount(), "crm.deals").detail == (
        "$.type: discount.granted does not belong on crm.deals (it carries deal.updated)"
    )


# --- precedence --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "family", "reason"),
    [
        (note(body="x" * 2_000_000)[:-5], None, Reason.OVERSIZED),  # before parsing
        (b"\xff" + b"[NaN]", None, Reason.INVALID_UTF8),  # before JSON syntax
        (b"[NaN]", None, Reason.NON_FINITE_NUMBER),  # before the top-level shape
        (discount(type="nope", event_id=MISSING), None, Reason.UNKNOWN_TYPE),
        (discount(event_id=MISSING), "crm.deals", Reason.WRONG_TOPIC),
        (discount(schema_version=99), "crm.deals", Reason.WRONG_TOPIC),
        (discount(schema_version=2, discount_pct=101), None, Reason.UNKNOWN_SCHEMA_VERSION),
        (discount(schema_version=2, source=MISSING), None, Reason.UNKNOWN_SCHEMA_VERSION),
        (
            discount(occurred_at="9999-01-01T00:00:00Z", discount_pct=101),
            None,
            Reason.OUT_OF_RANGE,
        ),
        (discount(occurred_at="9999-01-01T00:00:00Z"), "crm.deals", Reason.WRONG_TOPIC),
    ],
)
def test_precedence_of_reasons(raw: bytes, family: str | None, reason: Reason) -> None:
    assert rejection(raw, family).reason is reason


# --- configuration --------------------------------------------------------------------


def test_size_limit_is_configurable_and_defaults_to_one_mebibyte() -> None:
    assert MAX_EVENT_BYTES == 1024 * 1024
    assert rejection(discount(), max_bytes=100).reason is Reason.OVERSIZED
    assert decode(note(body="x" * 99_000), max_bytes=MAX_EVENT_BYTES)


def test_time_window_is_configurable() -> None:
    narrow = TimeWindow(
        dt.datetime(2026, 11, 1, tzinfo=dt.UTC), dt.datetime(2026, 12, 1, tzinfo=dt.UTC)
    )
    assert decode(discount(), window=narrow)
    raw = discount(occurred_at="2026-10-31T23:59:59Z")
    assert decode(raw) and rejection(raw, window=narrow).reason is Reason.ABSURD_TIMESTAMP
    assert EVENT_TIME_WINDOW.start.year == 2000 and EVENT_TIME_WINDOW.end.year == 2100


def test_topic_check_is_skipped_without_a_family() -> None:
    assert decode(discount(), None)


# --- the reason codes and the error ----------------------------------------------------


def test_reason_codes_are_the_documented_fixed_set() -> None:
    assert [reason.value for reason in Reason] == [
        "oversized",
        "invalid_utf8",
        "not_json",
        "non_finite_number",
        "not_object",
        "missing_field",
        "unknown_type",
        "wrong_topic",
        "unknown_schema_version",
        "wrong_type",
        "out_of_range",
        "invalid_value",
        "timestamp_without_zone",
        "invalid_timestamp",
        "absurd_timestamp",
        "late",
    ]
    assert "duplicate" not in set(Reason)


def test_invalid_event_carries_reason_and_detail_and_pickles() -> None:
    invalid = rejection(discount(discount_pct=101))
    assert isinstance(invalid, Exception)
    assert str(invalid) == f"out_of_range: {invalid.detail}"
    copy = pickle.loads(pickle.dumps(invalid))
    assert (copy.reason, copy.detail) == (invalid.reason, invalid.detail)


# --- privacy: no free text of the record in a detail ------------------------------------

SECRET_BEARING: dict[str, bytes] = {
    "body too long": note(body=SECRET * 3_000),
    "id empty": note(body=SECRET, note_id=""),
    "rep wrong type": note(body=SECRET, rep_id=[SECRET]),
    "secret as type": note(body=SECRET, type=SECRET),
    "secret as enum": encode_json(valid_event("deal.updated", stage=SECRET)),
    "secret as currency": encode_json(valid_event("deal.updated", currency=SECRET)),
    "secret as timestamp": note(body=SECRET, occurred_at=SECRET),
    "secret as date": encode_json(valid_event("deal.updated", expected_close_date=SECRET)),
    "secret as version": note(body=SECRET, schema_version=SECRET),
    "secret as key with NaN": note(body=SECRET).replace(
        b'"body"', b'"' + SECRET.encode() + b'":NaN,"b"'
    ),
    "body wrong topic": note(body=SECRET),
    "invalid UTF-8 beside": note(body=SECRET + "@@").replace(b"@@", b"\xff"),
    "secret in trailing text": note(body=SECRET) + SECRET.encode(),
    "body absurd time": note(body=SECRET, occurred_at="9999-01-01T00:00:00Z"),
}


@pytest.mark.parametrize("case", list(SECRET_BEARING))
def test_detail_never_contains_record_text(case: str) -> None:
    invalid = rejection(SECRET_BEARING[case], "crm.deals" if case == "body wrong topic" else None)
    for fragment in ("PII", "Jane", "7946", "flu"):
        assert fragment not in invalid.detail, (case, invalid.detail)
        assert fragment not in str(invalid)


# --- properties ----------------------------------------------------------------------------

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**64 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=12,
)


@given(st.binary(max_size=400))
def test_arbitrary_bytes_raise_nothing_but_invalid_event(raw: bytes) -> None:
    _decode_or_reject(raw)


@given(st.sampled_from(EVENT_TYPE_NAMES), st.data())
def test_mutated_records_raise_nothing_but_invalid_event(
    type_name: str, data: st.DataObject
) -> None:
    raw = bytearray(encode_json(valid_event(type_name)))
    position = data.draw(st.integers(0, len(raw) - 1))
    replacement = data.draw(st.binary(min_size=0, max_size=6))
    raw[position : position + data.draw(st.integers(0, 6))] = replacement
    _decode_or_reject(bytes(raw), FAMILY_OF[type_name])


@given(st.sampled_from(EVENT_TYPE_NAMES), st.data())
def test_any_field_replaced_raises_nothing_but_invalid_event(
    type_name: str, data: st.DataObject
) -> None:
    event = (
        valid_event(type_name, body=SECRET)
        if type_name == "note.logged"
        else valid_event(type_name)
    )
    field = data.draw(st.sampled_from(sorted(event)))
    event[field] = data.draw(json_values)
    result = _decode_or_reject(encode_json(event))
    if isinstance(result, InvalidEvent):
        assert "PII" not in result.detail


def _decode_or_reject(raw: bytes, family: str | None = None) -> object:
    try:
        return decode(raw, family)
    except InvalidEvent as invalid:
        assert invalid.reason in set(Reason) and invalid.reason is not Reason.LATE
        return invalid


def _strategy(info: msgspec.inspect.Type) -> st.SearchStrategy[Any]:
    """Valid JSON values for a field, from the decoder's own type information."""
    inspect = msgspec.inspect
    if isinstance(info, inspect.Metadata):
        return _strategy(info.type)
    if isinstance(info, inspect.UnionType):
        return st.one_of([_strategy(member) for member in info.types])
    if isinstance(info, inspect.NoneType):
        return st.none()
    if isinstance(info, inspect.BoolType):
        return st.booleans()
    if isinstance(info, inspect.LiteralType | inspect.EnumType):
        values = info.values if isinstance(info, inspect.LiteralType) else info.cls
        return st.sampled_from([getattr(v, "value", v) for v in values])
    if isinstance(info, inspect.FloatType):
        low = info.ge if info.ge is not None else -1e12
        high = info.le if info.le is not None else 1e12
        return st.floats(low, high, allow_nan=False) | st.integers(int(low), int(high))
    if isinstance(info, inspect.StrType):
        if info.pattern:
            return st.from_regex(info.pattern, fullmatch=True)
        size = min(info.max_length or 300, 300)
        alphabet = st.characters(blacklist_categories=("Cs",))
        return st.text(alphabet, min_size=info.min_length or 0, max_size=size)
    if isinstance(info, inspect.DateTimeType):
        zones = st.sampled_from(
            [
                dt.UTC,
                dt.timezone(dt.timedelta(hours=5, minutes=30)),
                dt.timezone(-dt.timedelta(hours=8)),
            ]
        )
        moments = st.datetimes(dt.datetime(2000, 1, 2), dt.datetime(2099, 12, 30), timezones=zones)
        return moments.map(dt.datetime.isoformat)
    if isinstance(info, inspect.DateType):
        return st.dates().map(dt.date.isoformat)
    raise NotImplementedError(info)


@st.composite
def valid_records(draw: st.DrawFn) -> tuple[str, dict[str, Any]]:
    """A random valid event: every field drawn from its declared type and constraints."""
    type_name = draw(st.sampled_from(EVENT_TYPE_NAMES))
    info = msgspec.inspect.type_info(EVENT_TYPES[type_name])
    record: dict[str, Any] = {"type": type_name}
    for field in info.fields:
        if field.required or draw(st.booleans()):
            record[field.encode_name] = draw(_strategy(field.type))
    return type_name, record


@settings(suppress_health_check=[HealthCheck.too_slow])
@given(valid_records())
def test_valid_events_round_trip(case: tuple[str, dict[str, Any]]) -> None:
    type_name, record = case
    event = decode(encode_json(record), FAMILY_OF[type_name])
    assert type(event) is EVENT_TYPES[type_name]
    assert decode(encode(event), FAMILY_OF[type_name]) == event
    assert msgspec.to_builtins(event)["type"] == type_name
