"""The stall clock's threshold (docs/semantics.md, "Stalled"): when an open deal whose
clock started at a given time counts as stalled, in calendar or business days."""

from __future__ import annotations

from streams.buckets import first_day_beyond
from streams.clock import DAY_US, span_micros
from streams.policy_model import StageRules


class StallRule:
    """When an open deal counts as stalled (docs/semantics.md, "Stalled")."""

    __slots__ = ("business", "days", "spans")

    def __init__(self, stages: StageRules) -> None:
        self.business = stages.business_days
        self.days = dict(stages.stall_days)
        self.spans = {stage: span_micros(days) for stage, days in stages.stall_days.items()}

    def due(self, stage: str, start: int, snooze_day: int | None) -> int | None:
        """The first stream time (µs) at which a deal in ``stage`` whose stall clock
        started at ``start`` is stalled; None when the stage has no threshold."""
        span = self.spans.get(stage)
        if span is None:
            return None
        if self.business:
            due = first_day_beyond(start // DAY_US, self.days[stage]) * DAY_US
        else:
            due = start + span + 1  # stalled once *more* than the threshold has passed
        if snooze_day is not None and (snooze_day + 1) * DAY_US > due:
            due = (snooze_day + 1) * DAY_US
        return due

    def moment(self, stage: str, start: int, snooze_day: int | None) -> int:
        """The instant reported for crossing the threshold: start + stall days (or the
        first stalled business day's midnight), or the snooze's end if later."""
        if self.business:
            moment = first_day_beyond(start // DAY_US, self.days[stage]) * DAY_US
        else:
            moment = start + self.spans[stage]
        if snooze_day is not None:
            moment = max(moment, (snooze_day + 1) * DAY_US)
        return moment
