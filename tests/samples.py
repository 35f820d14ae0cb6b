"""Valid sample events, one per event type, as JSON-ready dicts — shared by every test level.

``valid_event("discount.granted", discount_pct=101)`` gives a sample with fields changed;
pass ``MISSING`` to remove a field: ``valid_event("deal.updated", event_id=MISSING)``.
"""

from __future__ import annotations

from typing import Any, Final

import msgspec
import orjson

from schemas.events import EVENT_TYPES, TOPIC_TYPES

MISSING: Final = object()
"""Override value that removes the field from the sample."""

OCCURRED_AT = "2026-11-20T10:00:00Z"

ENVELOPE: dict[str, Any] = {
    "schema_version": 1,
    "occurred_at": OCCURRED_AT,
    "source": "salesforce-cdc",
}

# Every field of every type, optional ones included, with realistic values.
_FIELDS: dict[str, dict[str, Any]] = {
    "deal.updated": {
        "deal_id": "deal-42",
        "account_id": "acct-7",
        "rep_id": "rep-a1",
        "stage": "proposal",
        "amount": 48_000.0,
        "currency": "EUR",
        "expected_close_date": "2026-12-15",
        "kind": "new_business",
        "created_at": "2026-10-01T09:30:00+02:00",
        "next_step": "Send the revised proposal",
        "decision_maker": "CFO",
        "snoozed_until": None,
        "snooze_reason": None,
    },
    "discount.granted": {
        "deal_id": "deal-42",
        "rep_id": "rep-a1",
        "discount_pct": 12.5,
        "list_amount": 50_000.0,
        "approved_by": "mgr-team-a",
        "approval_id": "appr-9",
    },
    "note.logged": {
        "note_id": "note-3",
        "account_id": "acct-7",
        "deal_id": "deal-42",
        "rep_id": "rep-a1",
        "body": "Call with the buyer: agreed scope, pricing review next week.",
    },
    "lead.qualified": {"lead_id": "lead-5", "rep_id": "rep-a1", "icp_fit": True},
    "approval.requested": {
        "approval_id": "appr-9",
        "deal_id": "deal-42",
        "rep_id": "rep-a1",
        "requested_discount_pct": 18.0,
    },
    "approval.decided": {
        "approval_id": "appr-9",
        "deal_id": "deal-42",
        "rep_id": "rep-a1",
        "requested_discount_pct": 18.0,
        "decided_by": "mgr-team-a",
        "decision": "approved",
    },
    "quota.set": {"rep_id": "rep-a1", "period": "2026-Q4", "amount": 300_000.0, "currency": "EUR"},
    "rep.updated": {
        "rep_id": "rep-a1",
        "team": "team-a",
        "region": "emea",
        "manager_id": "mgr-team-a",
        "manager_contact": "mgr-team-a@example.com",
        "tier": "junior",
        "active": True,
    },
    "coaching.logged": {"rep_id": "rep-a1", "practice": "mutual close plan", "applied": True},
    "survey.submitted": {
        "rep_id": "rep-a1",
        "account_id": "acct-7",
        "kind": "customer_alignment",
        "score": 88.0,
    },
}
assert set(_FIELDS) == set(EVENT_TYPES), "a sample for every event type"

EVENT_TYPE_NAMES: tuple[str, ...] = tuple(EVENT_TYPES)
FAMILY_OF: dict[str, str] = {
    event_type: family for family, types in TOPIC_TYPES.items() for event_type in types
}


def valid_event(type_name: str, **overrides: Any) -> dict[str, Any]:
    """A valid event of ``type_name`` as a JSON-ready dict, with ``overrides`` applied."""
    event = {"type": type_name, "event_id": f"evt-{type_name}-0001", **ENVELOPE}
    event.update(_FIELDS[type_name])
    for name, value in overrides.items():
        if value is MISSING:
            event.pop(name, None)
        else:
            event[name] = value
    return event


def required_fields(type_name: str) -> tuple[str, ...]:
    """The JSON names of the fields an event of ``type_name`` must carry (``type`` included)."""
    cls = EVENT_TYPES[type_name]
    return ("type", *(f.encode_name for f in msgspec.structs.fields(cls) if f.required))


def encode_json(event: dict[str, Any]) -> bytes:
    """The JSON bytes of a sample, as a producer would send them."""
    return orjson.dumps(event)
