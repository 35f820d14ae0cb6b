"""Mapping rows of opportunity exports to ``deal.updated`` events, and the rules for the
quirks of real exports (the example mappings in deploy/replay/ point here):

- **Empty amount** → 0, with an ``empty_amount`` warning. The deal is real activity
  (its stage, stall clock and account all count), and 0 is what the CRM means; the
  engine's ``missing_required_field`` rule then flags it in stages that need an amount.
  An amount that is present but unreadable (``abc``, negative) rejects the row.
- **Contradictory status columns** (IsWon / IsClosed disagreeing with the stage) → the
  stage column wins, with a ``contradictory_status`` warning naming both. The stage is
  what the mapping translates deliberately; if the flags are right, fix the stage map.
- **Close date before the created date** on a closed deal → the close is stamped at the
  creation time, with a ``close_before_created`` warning.
- **History row dated before the deal was created** → clamped to the creation time, with
  a ``history_before_created`` warning (the stage it records is real; migrated data
  often has history older than the record). A deal's events are kept strictly in
  history order: a row at or before the previous one moves 1 ms after it.
- **Unknown stage**, **unreadable or missing date**, **unknown owner** (when the
  mapping lists owners), **bad currency**, a **missing id, account or owner** → the row
  is rejected with that reason.
- **Unknown deal type** → the mapping's default kind, with an ``unknown_kind`` warning.
- **Text longer than 256 characters** (next step, decision maker) → cut, with a
  ``truncated`` warning.

Event time of the opportunity row (the deal's current state): a closed deal's close
date (midnight, in the mapping's time zone); otherwise the last-modified column when
mapped and set; otherwise the created date. It is never before the deal's last history
row (then it moves 1 ms after it), since the export is newer than its history.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass

import msgspec

from schemas import events as ev
from schemas.decode import encode
from simulator.mapping import Mapping, fold
from simulator.parsing import parse_amount, parse_date, parse_datetime, parse_flag

TEXT_MAX = 256
TICK = dt.timedelta(milliseconds=1)
Warnings = list[tuple[str, str]]  # (reason, detail) of one row


class RowError(ValueError):
    """Why a row cannot be replayed."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason, self.detail = reason, detail


@dataclass(frozen=True, slots=True)
class Deal:
    """One opportunity row, parsed."""

    line: int
    deal_id: str
    account_id: str
    rep_id: str
    stage: ev.Stage
    amount: float
    currency: str
    created_at: dt.datetime
    close_date: dt.date | None
    closed_at: dt.datetime | None  # closed deals: midnight of the close date (mapping zone)
    kind: ev.DealKind
    updated_at: dt.datetime | None
    next_step: str | None
    decision_maker: str | None
    source: str


@dataclass(frozen=True, slots=True)
class Change:
    """One stage-history row, parsed. When the history export has no amount (``amount``
    None) or no close-date column (``has_close_date`` false), the deal's own is used."""

    line: int
    deal_id: str
    stage: ev.Stage
    amount: float | None
    has_close_date: bool
    close_date: dt.date | None
    changed_at: dt.datetime


def _show(value: str) -> str:
    return repr(value if len(value) <= 40 else value[:37] + "...")


def _required(row: dict[str, str], name: str) -> str:
    value = row.get(name, "")
    if not value:
        raise RowError("missing_field", f"{name} is empty")
    return value


def _stage(row: dict[str, str], mapping: Mapping) -> ev.Stage:
    name = _required(row, "stage")
    stage = mapping.stages.get(fold(name))
    if stage is None:
        raise RowError("unknown_stage", f"stage {_show(name)} is not in the mapping's stages")
    return stage


def _amount(row: dict[str, str], mapping: Mapping, warnings: Warnings) -> float:
    try:
        amount = parse_amount(row.get("amount", ""), mapping.decimal)
    except ValueError as error:
        raise RowError("bad_amount", str(error)) from None
    if amount is None:
        warnings.append(("empty_amount", "amount is empty; replayed as 0"))
        return 0.0
    return amount


def _when(row: dict[str, str], name: str, mapping: Mapping) -> dt.datetime | None:
    value = row.get(name, "")
    if not value:
        return None
    try:
        return parse_datetime(value, mapping.date_order, mapping.timezone)
    except ValueError as error:
        raise RowError("bad_date", f"{name}: {error}") from None


def _day(row: dict[str, str], name: str, mapping: Mapping) -> dt.date | None:
    value = row.get(name, "")
    if not value:
        return None
    try:
        return parse_date(value, mapping.date_order)
    except ValueError as error:
        raise RowError("bad_date", f"{name}: {error}") from None


def _text(row: dict[str, str], name: str, warnings: Warnings) -> str | None:
    value = row.get(name) or None
    if value is not None and len(value) > TEXT_MAX:
        warnings.append(("truncated", f"{name} cut to {TEXT_MAX} characters"))
        value = value[:TEXT_MAX]
    return value


def parse_deal(row: dict[str, str], line: int, mapping: Mapping, warnings: Warnings) -> Deal:
    """The deal of one opportunity row (RowError when it cannot be replayed); documented
    fixes are appended to ``warnings``."""
    deal_id = _required(row, "deal_id")
    account_id = _required(row, "account_id")
    owner = _required(row, "owner")
    rep_id = owner
    if mapping.owners is not None:
        rep_id = mapping.owners.get(fold(owner), "")
        if not rep_id:
            raise RowError("unknown_owner", f"owner {_show(owner)} is not in the mapping's owners")
    stage = _stage(row, mapping)
    currency = (row.get("currency") or mapping.currency or "").upper()
    if not (len(currency) == 3 and currency.isalpha()):
        raise RowError("bad_currency", f"currency {_show(currency)} is not an ISO 4217 code")
    created_at = _when(row, "created_at", mapping)
    if created_at is None:
        raise RowError("missing_field", "created_at is empty")
    close_date = _day(row, "close_date", mapping)
    updated_at = _when(row, "updated_at", mapping)
    amount = _amount(row, mapping, warnings)
    _check_status(row, stage, warnings)
    closed_at = None
    if stage in (ev.Stage.CLOSED_WON, ev.Stage.CLOSED_LOST) and close_date is not None:
        closed_at = dt.datetime.combine(close_date, dt.time(), mapping.timezone)
        if closed_at < created_at:
            warnings.append(("close_before_created",
                             f"close date {close_date} is before the creation "
                             f"({created_at.isoformat()}); the close is stamped at the "
                             "creation time"))
            closed_at = created_at
        closed_at = closed_at.astimezone(dt.UTC)
    return Deal(
        line=line, deal_id=deal_id, account_id=account_id, rep_id=rep_id, stage=stage,
        amount=amount, currency=currency, created_at=created_at, close_date=close_date,
        closed_at=closed_at, kind=_kind(row, mapping, warnings), updated_at=updated_at,
        next_step=_text(row, "next_step", warnings),
        decision_maker=_text(row, "decision_maker", warnings), source=mapping.source,
    )


def _kind(row: dict[str, str], mapping: Mapping, warnings: Warnings) -> ev.DealKind:
    value = row.get("kind", "")
    if not value:
        return mapping.kind
    kind = mapping.kinds.get(fold(value))
    if kind is None:
        warnings.append(("unknown_kind", f"deal type {_show(value)} is not in the mapping's "
                                         f"kinds; replayed as {mapping.kind}"))
        return mapping.kind
    return kind


def _check_status(row: dict[str, str], stage: ev.Stage, warnings: Warnings) -> None:
    """Warn when IsWon / IsClosed disagree with the stage (the stage wins)."""
    flags = {}
    for name in ("is_won", "is_closed"):
        try:
            flags[name] = parse_flag(row.get(name, ""))
        except ValueError as error:
            warnings.append(("bad_flag", f"{name}: {error}; ignored"))
            flags[name] = None
    won, closed = flags["is_won"], flags["is_closed"]
    is_closed = stage in (ev.Stage.CLOSED_WON, ev.Stage.CLOSED_LOST)
    clash = (won is not None and won != (stage == ev.Stage.CLOSED_WON)) or (
        closed is not None and closed != is_closed)
    if clash:
        shown = ", ".join(f"{k}={v}" for k, v in flags.items() if v is not None)
        warnings.append(("contradictory_status",
                         f"{shown} disagrees with stage {stage}; the stage wins"))


def parse_change(row: dict[str, str], line: int, mapping: Mapping,
                 warnings: Warnings) -> Change:
    """The stage change of one history row (RowError when it cannot be replayed)."""
    deal_id = _required(row, "deal_id")
    stage = _stage(row, mapping)
    changed_at = _when(row, "changed_at", mapping)
    if changed_at is None:
        raise RowError("missing_field", "changed_at is empty")
    has = mapping.history_columns or {}
    amount = _amount(row, mapping, warnings) if "amount" in has else None
    close_date = _day(row, "close_date", mapping) if "close_date" in has else None
    return Change(line, deal_id, stage, amount, "close_date" in has, close_date, changed_at)


def deal_events(deal: Deal, changes: list[Change], warnings: list[tuple[int, str, str]]
                ) -> list[tuple[Change | None, ev.DealUpdated]]:
    """The deal's events: one per history row in history order, then its current state
    (``None`` in place of the Change). History warnings go to ``warnings`` by line."""
    out: list[tuple[Change | None, ev.DealUpdated]] = []
    previous: dt.datetime | None = None
    for change in sorted(changes, key=lambda c: (c.changed_at, c.line)):
        at = change.changed_at
        if at < deal.created_at:
            warnings.append((change.line, "history_before_created",
                             f"dated {at.isoformat()}, before the deal was created "
                             f"({deal.created_at.isoformat()}); moved to the creation time"))
            at = deal.created_at
        if previous is not None and at <= previous:
            at = previous + TICK
        amount = deal.amount if change.amount is None else change.amount
        close = change.close_date if change.has_close_date else deal.close_date
        out.append((change, _event(deal, at, change.stage, amount, close)))
        previous = at
    at = _current_time(deal)
    if previous is not None and at <= previous:
        at = previous + TICK
    out.append((None, _event(deal, at, deal.stage, deal.amount, deal.close_date)))
    return out


def _current_time(deal: Deal) -> dt.datetime:
    return deal.closed_at or deal.updated_at or deal.created_at


def _event(deal: Deal, at: dt.datetime, stage: ev.Stage, amount: float,
           close: dt.date | None) -> ev.DealUpdated:
    event = ev.DealUpdated(
        event_id="-", schema_version=1, occurred_at=at, source=deal.source,
        deal_id=deal.deal_id, account_id=deal.account_id, rep_id=deal.rep_id, stage=stage,
        amount=amount, currency=deal.currency, expected_close_date=close, kind=deal.kind,
        created_at=deal.created_at, next_step=deal.next_step,
        decision_maker=deal.decision_maker,
    )
    digest = hashlib.sha256(encode(event)).hexdigest()[:32]
    return msgspec.structs.replace(event, event_id=f"replay-{digest}")
