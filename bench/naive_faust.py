"""Baseline (b): the three KPIs written the way the Faust tutorial writes an app.

A ``faust.Record`` per event, one agent per input topic, ``group_by`` to re-key by rep
or account, and a table write per event (RocksDB tables with changelogs, as the product
has). Every input topic is consumed, so it reads the same records as the product.

    python -m bench.naive_faust worker -l warn      (configured by BENCH_* variables)
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from typing import Any

import faust

from bench.three_kpis import apply_to_account, apply_to_rep, new_rep

PREFIX = os.environ.get("BENCH_TOPIC_PREFIX", "")

app = faust.App(
    os.environ.get("BENCH_APP_ID", "bench-naive-faust"),
    broker=f"kafka://{os.environ.get('BENCH_BOOTSTRAP', '127.0.0.1:9092')}",
    store="rocksdb://",
    datadir=os.environ.get("BENCH_DATA_DIR", "naive-faust-data"),
    web_port=int(os.environ.get("BENCH_WEB_PORT", "6067")),
    web_host="127.0.0.1",
    web_bind="127.0.0.1",
    topic_partitions=int(os.environ.get("BENCH_PARTITIONS", "8")),
    topic_disable_leader=True,
    consumer_auto_offset_reset="earliest",
)


class Rep(faust.Record):
    type: str
    event_id: str
    rep_id: str
    tier: str


class Discount(faust.Record):
    type: str
    event_id: str
    rep_id: str
    deal_id: str
    discount_pct: float
    approval_id: str | None = None


class Approval(faust.Record):
    type: str
    event_id: str
    rep_id: str
    deal_id: str
    approval_id: str


class Deal(faust.Record):
    type: str
    event_id: str
    rep_id: str
    account_id: str
    deal_id: str


class Note(faust.Record):
    type: str
    event_id: str
    occurred_at: str
    rep_id: str
    account_id: str
    body: str


class Other(faust.Record):
    type: str
    event_id: str


def topic(family: str, record: type[faust.Record]) -> faust.TopicT:
    return app.topic(PREFIX + family, value_type=record)


violations = app.topic(PREFIX + "bench.naive-violations", value_serializer="json")
reps = app.Table("reps", default=new_rep)
accounts = app.Table("accounts", default=dict)


async def to_rep(events: AsyncIterator[Any]) -> None:
    async for event in events:
        rep = reps[event.rep_id]
        for violation in apply_to_rep(rep, event.asdict()):
            await violations.send(key=event.event_id, value=violation)
        reps[event.rep_id] = rep  # reassigned: in-place changes reach no changelog


async def to_account(events: AsyncIterator[Any]) -> None:
    async for event in events:
        account = accounts[event.account_id]
        apply_to_account(account, event.asdict())
        accounts[event.account_id] = account


@app.agent(topic("crm.reps", Rep))
async def roster(stream: faust.StreamT) -> None:
    await to_rep(stream)  # keyed by rep already


@app.agent(topic("crm.discounts", Discount))
async def discounts(stream: faust.StreamT) -> None:
    await to_rep(stream.group_by(Discount.rep_id, name="discounts-by-rep"))


@app.agent(topic("crm.approvals", Approval))
async def approvals(stream: faust.StreamT) -> None:
    await to_rep(stream.group_by(Approval.rep_id, name="approvals-by-rep"))


@app.agent(topic("crm.deals", Deal))
async def deals(stream: faust.StreamT) -> None:
    await to_account(stream.group_by(Deal.account_id, name="deals-by-account"))


@app.agent(topic("crm.notes", Note))
async def notes(stream: faust.StreamT) -> None:
    await to_account(stream.group_by(Note.account_id, name="notes-by-account"))


@app.agent(app.topic(*(PREFIX + f for f in ("crm.leads", "crm.quotas", "crm.feedback")),
                     value_type=Other))
async def others(stream: faust.StreamT) -> None:
    async for _event in stream:
        pass  # not part of the three KPIs: read and decoded like every other record


if __name__ == "__main__":
    app.main()
