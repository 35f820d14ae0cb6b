"""Baseline (c): the three KPIs in Quix Streams, as a Python team would otherwise write them.

Streaming dataframes re-keyed with ``group_by`` (by rep for the roster, discounts and
approvals; by account for deals and notes), concatenated, and one stateful ``apply``
per key (RocksDB state with changelogs). Every input topic is consumed.

    python -m bench.quix_app        (configured by BENCH_* variables)
"""

from __future__ import annotations

import os
from typing import Any

from quixstreams import Application, State
from quixstreams.dataframe import StreamingDataFrame

from bench.three_kpis import apply_to_account, apply_to_rep, new_rep

PREFIX = os.environ.get("BENCH_TOPIC_PREFIX", "")


def rep_step(event: dict[str, Any], state: State) -> list[dict[str, Any]]:
    rep = state.get("rep") or new_rep()
    violations = apply_to_rep(rep, event)
    state.set("rep", rep)
    return violations


def account_step(event: dict[str, Any], state: State) -> None:
    account = state.get("account") or {}
    apply_to_account(account, event)
    state.set("account", account)


def main() -> None:
    app = Application(
        broker_address=os.environ.get("BENCH_BOOTSTRAP", "127.0.0.1:9092"),
        consumer_group=os.environ.get("BENCH_APP_ID", "bench-quix"),
        auto_offset_reset="earliest",
        state_dir=os.environ.get("BENCH_DATA_DIR", "quix-state"),
        commit_interval=2.8,  # Faust's default, so every contender commits as often
        loglevel="WARNING",
    )

    def frame(family: str) -> StreamingDataFrame:
        return app.dataframe(app.topic(PREFIX + family, key_deserializer="bytes"))

    def by(family: str, field: str) -> StreamingDataFrame:
        # Short names: Quix names its state folder after every re-keying topic it reads.
        return frame(family).group_by(field, name=family.removeprefix("crm."))

    violations = app.topic(PREFIX + "bench.quix-violations")
    per_rep = by("crm.reps", "rep_id").concat(by("crm.discounts", "rep_id"))
    per_rep = per_rep.concat(by("crm.approvals", "rep_id"))
    per_rep.apply(rep_step, stateful=True, expand=True).to_topic(violations)
    per_account = by("crm.deals", "account_id").concat(by("crm.notes", "account_id"))
    per_account.update(account_step, stateful=True)
    for family in ("crm.leads", "crm.quotas", "crm.feedback"):
        frame(family)  # not part of the three KPIs: read and decoded like every other record
    app.run()


if __name__ == "__main__":
    main()
