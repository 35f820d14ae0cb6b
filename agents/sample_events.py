"""A small, deterministic stream of CRM events for the quick start (the full persona
simulator supersedes it). Every tenth record is deliberately broken so the dead-letter
path is visible from the first minute."""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

TEAMS = ("team-a", "team-b")
REPS = tuple(f"rep-{team[-1]}{n}" for team in TEAMS for n in range(1, 4))
STAGES = ("prospecting", "qualification", "proposal", "negotiation", "closed_won")
BROKEN: tuple[bytes, ...] = (
    b"not json at all",
    b"[1, 2, 3]",
    b'{"type": "discount.granted", "event_id": "x"}',
    b'{"type": "mystery.event", "event_id": "y", "schema_version": 1}',
)


def sample_records(
    seed: int = 7, start: datetime | None = None
) -> Iterator[tuple[str, bytes, bytes]]:
    """Endless ``(topic family, key, value)`` triples: a roster first, then mixed activity.

    Keys are record ids, as CRM connectors do; the roster topic is compacted by rep.
    """
    rng = random.Random(seed)
    clock = start or datetime.now(UTC)
    for rep in REPS:
        team = TEAMS[0] if rep.startswith("rep-a") else TEAMS[1]
        yield "crm.reps", rep.encode(), _encode(
            _envelope("rep.updated", rep, clock),
            rep_id=rep, team=team, region="emea", manager_id=f"mgr-{team}",
            tier=rng.choice(("junior", "senior")), active=True,
        )
    for n in range(1, 1 << 62):
        clock += timedelta(seconds=rng.randint(1, 120))
        if n % 10 == 0:
            yield "crm.discounts", b"broken", BROKEN[n // 10 % len(BROKEN)]
            continue
        rep = rng.choice(REPS)
        deal = f"deal-{rng.randint(1, 40)}"
        envelope = _envelope("", f"{n}-{seed}", clock)
        kind = rng.random()
        if kind < 0.4:
            yield "crm.deals", deal.encode(), _encode(
                envelope | {"type": "deal.updated"}, deal_id=deal, account_id=f"acct-{deal}",
                rep_id=rep, stage=rng.choice(STAGES), amount=rng.randint(5, 200) * 1000,
                currency="EUR", expected_close_date=(clock + timedelta(days=30)).date().isoformat(),
                created_at=(clock - timedelta(days=20)).isoformat(),
            )
        elif kind < 0.7:
            yield "crm.discounts", deal.encode(), _encode(
                envelope | {"type": "discount.granted"}, deal_id=deal, rep_id=rep,
                discount_pct=rng.choice((5, 8, 12, 15, 25)), list_amount=50_000,
            )
        else:
            yield "crm.notes", deal.encode(), _encode(
                envelope | {"type": "note.logged"}, note_id=f"note-{n}", account_id=f"acct-{deal}",
                deal_id=deal, rep_id=rep,
                body=rng.choice(("n/a", "Call with the buyer: agreed scope, pricing next week.")),
            )


def _envelope(event_type: str, event_id: str, when: datetime) -> dict[str, Any]:
    return {
        "type": event_type,
        "event_id": f"sample-{event_id}",
        "schema_version": 1,
        "occurred_at": when.isoformat(),
        "source": "latitude-sample",
    }


def _encode(envelope: dict[str, Any], **fields: Any) -> bytes:
    return orjson.dumps(envelope | fields)
