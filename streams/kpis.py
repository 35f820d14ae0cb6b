"""Rep aggregates and the KPIs computed from them at read time (docs/semantics.md, "KPIs").

A rep's aggregate holds day buckets for the windowed counts and terms, its open pipeline
as sums (by close day, stalled by stage and amount: a rep can hold thousands of open
deals, so it keeps no list of them), the closes and pushes the deal stage sent it, what
it knows of each account it works on (one small entry per account) and its quotas.
KPIs are computed on read: ``raw_figures`` gives each KPI's numerator and denominator,
``judge_figures`` turns them into KpiValues with bands and status. Team figures sum the
members' raw numerators and denominators (never their ratios).
"""

from __future__ import annotations

import math
import struct
import sys
from array import array
from bisect import bisect_left
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import NamedTuple, TypeVar

import msgspec
from xxhash import xxh3_64_digest

from schemas.events import (
    CoachingLogged,
    DiscountGranted,
    LeadQualified,
    SurveyKind,
    SurveySubmitted,
)
from schemas.outputs import KpiValue, Status
from streams import buckets as b
from streams.deals import Close, DealDelta, OpenDeal, Push
from streams.policy_model import Band, Direction

# Counters of one day in RepState.counts.
DECISIONS, AUTONOMOUS, ESCALATIONS, LEADS, COACHED, APPLIED, CRITICAL, VIOLATIONS = range(8)
WIDTH = 8

REP_KPIS = (
    "autonomy_level", "escalation_rate", "authority_utilisation", "critical_violations_7d",
    "violations_30d", "crm_hygiene", "pipeline_coverage", "revenue_attainment",
    "expansion_share", "qualified_leads", "revenue_growth", "sales_cycle_days",
    "sales_cycle_yoy_change", "win_rate", "close_date_pushes", "stalled_deals",
    "stalled_value", "customer_alignment", "coaching_adoption",
)
TEAM_KPIS = (*REP_KPIS, "stalled_high_value_clusters")
CYCLE_PRIOR = "_cycle_prior"  # raw figure: (Σ cycle days, wins) a year earlier
RETAIN_DAYS = 365 + 90  # closes are read back to the year-ago 90-day window
T = TypeVar("T")
K = TypeVar("K", str, float)


class Quota(msgspec.Struct, frozen=True, array_like=True, gc=False):
    at: int
    event_id: str
    amount: float


class AccountMark(msgspec.Struct, array_like=True, gc=False):
    """An account entry as stored before entries were packed (see ``RepState``)."""

    active_day: int = 0
    open_deals: int = 0
    note_day: int = 0


# What a rep knows of each account it works on, for hygiene: the last day it had an
# event on it and the account's last day with a qualifying note (sent by the account
# stage), packed in one unsigned 64-bit int, and its open deals there, a signed 32-bit
# int. Days are days since the epoch (0 is never). A rep keeps these in three byte
# arrays, entry i at the same position in each, under the 8-byte xxh3 digest of the
# account id: a rep can work on thousands of accounts and stays decoded in the cache,
# and an entry as a dict item of the id and a packed int took about 140 B (the id's
# string alone 67 B), where it takes 20 B here. Two accounts of one rep share a digest
# with odds of about 1 in 10^11 at 10,000 accounts. Entries are in the order of their
# digests read as unsigned 64-bit ints in the host's byte order, so that a rep with many
# accounts finds one by bisection (a state decoded on a host of the other order, or
# stored before the order was kept, is sorted as decoded).
DAY_BITS = 24
DAY_MASK = (1 << DAY_BITS) - 1
KEY = 8  # bytes of a digest
_DAYS, _OPEN = struct.Struct("<Q"), struct.Struct("<i")
_days_from, _days_into, _open_from, _open_into = (
    _DAYS.unpack_from, _DAYS.pack_into, _OPEN.unpack_from, _OPEN.pack_into)


def account_key(account_id: str) -> bytes:
    """The digest a rep's entry for ``account_id`` is kept under."""
    return xxh3_64_digest(account_id.encode())


def packed_days(active: int = 0, noted: int = 0) -> int:
    return active | noted << DAY_BITS


class RepState(msgspec.Struct, kw_only=True, gc=False, omit_defaults=True):
    """One rep's aggregate (partitioned by rep in the runtime). Fields left at their
    defaults are not encoded: most of a rep's dicts are empty."""

    counts: b.Counters = msgspec.field(default_factory=dict)
    utilisation: b.Terms = msgspec.field(default_factory=list)
    alignment: b.Terms = msgspec.field(default_factory=list)
    # The account entries (see account_key): digests, packed days, open deal counts.
    account_keys: bytearray = msgspec.field(default_factory=bytearray)
    account_days: bytearray = msgspec.field(default_factory=bytearray)
    account_open: bytearray = msgspec.field(default_factory=bytearray)
    accounts_order: str = ""  # the byte order they are sorted in ("": arrival order)
    quotas: dict[str, Quota] = msgspec.field(default_factory=dict)
    # The open deals, summed: the deal stage sends the removal of each open item it
    # added, with the item, so what an item added is subtracted exactly.
    pipeline: dict[int, b.Partials] = msgspec.field(default_factory=dict)  # by close day
    # Stalled open deals by stage and amount (the high-value bar is read from the policy).
    stalled: dict[str, dict[float, int]] = msgspec.field(default_factory=dict)
    stalled_value: b.Partials = msgspec.field(default_factory=list)
    closes: dict[str, Close] = msgspec.field(default_factory=dict)
    pushes: dict[str, Push] = msgspec.field(default_factory=dict)
    # Earlier formats, folded into the fields above as a stored state is decoded, so an
    # upgrade keeps them: open deals one by one (0.1.0), a table per account fact,
    # account entries as structs, and as packed ints by account id (the open deals in
    # the bits from 2 * DAY_BITS up). None once folded: an empty dict took 64 B.
    open_deals: dict[str, OpenDeal] | None = None
    activity: dict[str, int] | None = None  # account -> last day
    open_accounts: dict[str, int] | None = None  # -> open deals
    accounts: dict[str, AccountMark] | None = None
    marks: dict[str, int] | None = None

    def __post_init__(self) -> None:
        if self.accounts_order != sys.byteorder:
            if self.account_keys:
                digests = memoryview(self.account_keys).cast("Q")
                _keep_entries(self, sorted(range(len(digests)), key=digests.__getitem__))
                digests.release()
            self.accounts_order = sys.byteorder
        if self.accounts:
            for account_id, m in self.accounts.items():
                _insert(self, account_key(account_id), packed_days(m.active_day, m.note_day),
                        m.open_deals)
        if self.marks:
            for account_id, packed in self.marks.items():
                _insert(self, account_key(account_id), packed & ((1 << 2 * DAY_BITS) - 1),
                        packed >> 2 * DAY_BITS)
        if self.open_deals:
            for deal in self.open_deals.values():
                _open(self, deal, 1)
        if self.activity:
            for account_id, day in self.activity.items():
                touch(self, account_id, day)
        if self.open_accounts:
            for account_id, count in self.open_accounts.items():
                count_open(self, account_id, count)
        self.accounts = self.marks = self.open_deals = self.activity = None
        self.open_accounts = None


def apply_delta(rep: RepState, delta: DealDelta) -> None:
    """Add or remove one item the deal stage sent. Closes and pushes are keyed, so
    applying one twice changes nothing; an open item must be applied once (the
    runtime's receivers drop what they applied before)."""
    item, sign = delta.item, delta.sign
    if isinstance(item, OpenDeal):
        replaced = delta.replaces
        # The common replacement keeps the account: its open count would drop by one and
        # rise by one again, two lookups for nothing.
        moves = replaced is None or sign != 1 or replaced.account_id != item.account_id
        if replaced is not None:
            _open(rep, replaced, -1, moves)
        _open(rep, item, sign, moves)
    elif isinstance(item, Close):
        _put(rep.closes, item.event_id, item, sign)
    else:
        _put(rep.pushes, item.event_id, item, sign)


def _open(rep: RepState, deal: OpenDeal, sign: int, counted: bool = True) -> None:
    if counted:
        count_open(rep, deal.account_id, sign)
    if deal.close_day is not None:
        day = rep.pipeline.setdefault(deal.close_day, [])
        b.add_exact(day, sign * deal.amount)
        if not day:
            del rep.pipeline[deal.close_day]
    if deal.stalled:
        amounts = rep.stalled.setdefault(deal.stage, {})
        _count(amounts, deal.amount, sign)
        if not amounts:
            del rep.stalled[deal.stage]
        b.add_exact(rep.stalled_value, sign * deal.amount)


def _count(counts: dict[K, int], key: K, sign: int) -> None:
    left = counts.get(key, 0) + sign
    if left > 0:
        counts[key] = left
    else:
        counts.pop(key, None)


def _put(table: dict[str, T], key: str, item: T, sign: int) -> None:
    if sign > 0:
        table[key] = item
    else:
        table.pop(key, None)


# Up to this many bytes of digests (384 entries) a scan finds an entry as soon as a
# bisection does. Measured per touch (mean over 100 accounts of the rep): the scan
# 570 ns at 100 accounts, 1.0 µs at 400; a bisection 1.0-1.2 µs from 600 to 20,000
# accounts, where the scan took 1.1 µs at 600, 1.6 µs at 1,000, 7.9 µs at 5,000 and
# 30 µs at 20,000 (a dict: 70 ns at any size).
SCAN_BYTES = 384 * KEY


def _index(keys: bytearray, key: bytes) -> int:
    """The index of digest ``key``'s entry, or -1 - the index where it belongs."""
    if len(keys) <= SCAN_BYTES:
        at = keys.find(key)
        while at > 0 and at % KEY:  # bytes that straddle two digests: look further
            at = keys.find(key, at + 1)
        if at >= 0:
            return at // KEY
    digests = memoryview(keys).cast("Q")
    value = int.from_bytes(key, sys.byteorder)
    i = bisect_left(digests, value)
    found = i < len(digests) and digests[i] == value
    digests.release()  # the arrays cannot grow while a view of them is held
    return i if found else -1 - i


def _insert(rep: RepState, key: bytes, days: int, open_count: int, i: int | None = None,
            ) -> None:
    """A new entry, at its place in digest order (index ``i`` when known)."""
    if i is None:
        i = -1 - _index(rep.account_keys, key)
    at = i * KEY
    rep.account_keys[at:at] = key
    rep.account_days[at:at] = _DAYS.pack(days)
    rep.account_open[at // 2:at // 2] = _OPEN.pack(open_count)  # a count: 4 bytes


def _keep_entries(rep: RepState, indices: list[int]) -> None:
    """Keep only the entries at ``indices``, in that order."""
    keys, days, counts = rep.account_keys, rep.account_days, rep.account_open
    rep.account_keys = bytearray().join(keys[i * KEY:(i + 1) * KEY] for i in indices)
    rep.account_days = bytearray().join(days[i * KEY:(i + 1) * KEY] for i in indices)
    rep.account_open = bytearray().join(counts[i * 4:(i + 1) * 4] for i in indices)


def count_open(rep: RepState, account_id: str, change: int) -> None:
    """``change`` more open deals on ``account_id``."""
    key = account_key(account_id)
    i = _index(rep.account_keys, key)
    if i < 0:
        _insert(rep, key, 0, change, -1 - i)
    else:
        counts, at = rep.account_open, i * 4
        _open_into(counts, at, _open_from(counts, at)[0] + change)


def touch(rep: RepState, account_id: str, day: int) -> None:
    """The rep had an event on ``account_id`` on ``day`` (keeps the account active)."""
    _raise_day(rep, account_id, day, 0)


def note(rep: RepState, account_id: str, day: int) -> None:
    """``account_id`` had a qualifying note (by anyone) on ``day``."""
    _raise_day(rep, account_id, day, DAY_BITS)


def _raise_day(rep: RepState, account_id: str, day: int, shift: int) -> None:
    """Move the account's day at bit ``shift`` of its packed days up to ``day``."""
    key = account_key(account_id)
    i = _index(rep.account_keys, key)
    if i < 0:
        if day > 0:
            _insert(rep, key, day << shift, 0, -1 - i)
        return
    days, at = rep.account_days, i * KEY
    packed = _days_from(days, at)[0]
    known = packed >> shift & DAY_MASK
    if known < day:
        _days_into(days, at, packed + ((day - known) << shift))


def account_entries(rep: RepState) -> Iterator[tuple[bytes, int, int, int]]:
    """Each account entry: digest, last active day, open deals, last note day."""
    for (key,), (days,), (count,) in zip(struct.iter_unpack("8s", rep.account_keys),
                                         _DAYS.iter_unpack(rep.account_days),
                                         _OPEN.iter_unpack(rep.account_open), strict=True):
        yield key, days & DAY_MASK, count, days >> DAY_BITS


def set_quota(rep: RepState, period: str, quota: Quota) -> None:
    """Keep the latest quota (by occurred_at, event_id) of a period."""
    known = rep.quotas.get(period)
    if known is None or (quota.at, quota.event_id) > (known.at, known.event_id):
        rep.quotas[period] = quota


def record_discount(rep: RepState, event: DiscountGranted, day: int, limit: float) -> None:
    """A discount: authority utilisation, and a decision when granted alone (autonomous
    when within the rep's ``limit``)."""
    b.add_term(rep.utilisation, day, event.discount_pct / limit)
    if event.approval_id is None:
        b.bump(rep.counts, day, DECISIONS, WIDTH)
        if event.discount_pct <= limit:
            b.bump(rep.counts, day, AUTONOMOUS, WIDTH)


def record_request(rep: RepState, day: int) -> None:
    """An approval request: a decision, escalated."""
    b.bump(rep.counts, day, DECISIONS, WIDTH)
    b.bump(rep.counts, day, ESCALATIONS, WIDTH)


def record_lead(rep: RepState, event: LeadQualified, day: int) -> None:
    """A qualified lead counts when it fits the ICP."""
    if event.icp_fit:
        b.bump(rep.counts, day, LEADS, WIDTH)


def record_coaching(rep: RepState, event: CoachingLogged, day: int) -> None:
    """The rep was coached (and perhaps applied the practice) on ``day``."""
    b.bump(rep.counts, day, COACHED, WIDTH)
    if event.applied:
        b.bump(rep.counts, day, APPLIED, WIDTH)


def record_survey(rep: RepState, event: SurveySubmitted, day: int) -> None:
    """A survey keeps its account active; customer alignment scores are averaged."""
    touch(rep, event.account_id, day)
    if event.kind == SurveyKind.CUSTOMER_ALIGNMENT:
        b.add_term(rep.alignment, day, event.score / 100)


def prune_rep(rep: RepState, today: int) -> None:
    """Forget what no window starting at or after ``today`` reads any more."""
    month = today - 29
    quarter_start = b.quarter_span(*b.quarter_of(today))[0]
    b.prune_counters(rep.counts, month, WIDTH)
    b.prune_terms(rep.utilisation, month)
    b.prune_terms(rep.alignment, min(month, quarter_start))
    if today % 56 < 14:  # accounts are many and read with a day filter: prune less often
        first, week = today - 89, today - 6
        kept = [i for i, (_, active, count, noted) in enumerate(account_entries(rep))
                if active >= first or count or noted >= week]
        if len(kept) * KEY < len(rep.account_keys):
            _keep_entries(rep, kept)  # in the order they were: digest order
    for day in [d for d in rep.pipeline if d < today]:
        del rep.pipeline[day]
    for key in [k for k, p in rep.pushes.items() if p.day < month]:
        del rep.pushes[key]
    for key in [k for k, c in rep.closes.items() if c.day < today - RETAIN_DAYS]:
        del rep.closes[key]


class ReadContext(NamedTuple):
    """What a read needs besides the aggregate: the day of T, and each account's last
    day with a qualifying note (by anyone) when the caller holds them (None: the days
    in the rep's account entries)."""

    today: int
    last_note_day: Mapping[bytes, int] | None = None  # by account_key


Raw = dict[str, tuple[float, float | None]]


def raw_figures(rep: RepState, ctx: ReadContext) -> Raw:
    """Numerator and denominator of every KPI of one rep at stream time ``ctx.now``."""
    today = ctx.today
    month, week = b.rolling(today, 30), b.rolling(today, 7)
    decisions = b.count(rep.counts, *month, DECISIONS, WIDTH)
    util_sum, util_n = b.fsum_count(rep.utilisation, *month)
    align_sum, align_n = b.fsum_count(rep.alignment, *b.quarter_span(*b.quarter_of(today)))
    coached = b.count(rep.counts, *month, COACHED, WIDTH)
    applied = b.count(rep.counts, *month, APPLIED, WIDTH)
    raw: Raw = {
        "autonomy_level": (b.count(rep.counts, *month, AUTONOMOUS, WIDTH), decisions),
        "escalation_rate": (b.count(rep.counts, *month, ESCALATIONS, WIDTH), decisions),
        "authority_utilisation": (util_sum, util_n),
        "critical_violations_7d": (b.count(rep.counts, *week, CRITICAL, WIDTH), None),
        "violations_30d": (b.count(rep.counts, *month, VIOLATIONS, WIDTH), None),
        "crm_hygiene": _hygiene(rep, ctx),
        "qualified_leads": (b.count(rep.counts, *month, LEADS, WIDTH), 1),
        "customer_alignment": (align_sum, align_n),
        "coaching_adoption": (1 if applied else 0, 1 if coached else 0),
    }
    raw.update(_pipeline(rep, ctx))
    raw.update(_revenue(rep, today))
    pushes = [p.deal_id for p in rep.pushes.values() if month[0] <= p.day <= today]
    raw["close_date_pushes"] = (len(pushes), len(set(pushes)))
    return raw


def _hygiene(rep: RepState, ctx: ReadContext) -> tuple[float, float]:
    first, week, note_days = ctx.today - 89, ctx.today - 6, ctx.last_note_day
    active = noted = 0
    for key, active_day, count, note_day in account_entries(rep):
        if count or active_day >= first:
            active += 1
            day = note_day if note_days is None else note_days.get(key, 0)
            noted += day >= week
    return noted, active


def _pipeline(rep: RepState, ctx: ReadContext) -> Raw:
    today, horizon = ctx.today, ctx.today + 89
    amounts = [x for day, partials in rep.pipeline.items() if today <= day <= horizon
               for x in partials]
    quotas = {period: q.amount for period, q in rep.quotas.items()}
    stalled = sum(n for amounts_of in rep.stalled.values() for n in amounts_of.values())
    return {
        "pipeline_coverage": (math.fsum(amounts), math.fsum(b.daily_shares(quotas, today,
                                                                           horizon))),
        "stalled_deals": (stalled, None),
        "stalled_value": (math.fsum(rep.stalled_value), None),
    }


def stalled_high_value(rep: RepState, high_value_amount: float) -> dict[str, int]:
    """Stalled open deals of at least ``high_value_amount``, per stage (the team's
    clusters)."""
    per_stage = {stage: sum(n for amount, n in amounts.items() if amount >= high_value_amount)
                 for stage, amounts in rep.stalled.items()}
    return {stage: n for stage, n in per_stage.items() if n}


def _revenue(rep: RepState, today: int) -> Raw:
    this_q = b.quarter_of(today)
    first, last = b.quarter_span(*this_q)
    prev_first, prev_last = b.quarter_span(*b.previous_quarter(*this_q))
    won = [c for c in rep.closes.values() if c.won]
    this = [c.amount for c in won if first <= c.day <= last]
    expansion = [c.amount for c in won if c.expansion and first <= c.day <= last]
    before = [c.amount for c in won if prev_first <= c.day <= prev_last]
    recent = [c.cycle_days for c in won if today - 89 <= c.day <= today]
    year_ago = today - 365
    prior = [c.cycle_days for c in won if year_ago - 89 <= c.day <= year_ago]
    lost = sum(1 for c in rep.closes.values() if not c.won and today - 89 <= c.day <= today)
    quota = rep.quotas.get(b.period_name(*this_q))
    won_sum = math.fsum(this)
    return {
        "revenue_attainment": (won_sum, quota.amount if quota else 0.0),
        "expansion_share": (math.fsum(expansion), won_sum),
        "revenue_growth": (won_sum, math.fsum(before)),
        "sales_cycle_days": (math.fsum(recent), len(recent)),
        CYCLE_PRIOR: (math.fsum(prior), len(prior)),
        "win_rate": (len(recent), len(recent) + lost),
    }


# The figures a team sums, in the order packed figures hold them (new names go last:
# figures packed before them read as 0 with no denominator).
SUMMED = tuple(name for name in (*REP_KPIS, CYCLE_PRIOR) if name != "sales_cycle_yoy_change")


def pack_figures(raw: Raw) -> bytes:
    """A rep's raw figures as little-endian doubles, numerator then denominator of each
    name in SUMMED (NaN: no denominator). A team keeps every member's figures: as a dict
    of tuples of floats they took about 2.4 KB a rep, packed about 300 B."""
    values = array("d")
    for name in SUMMED:
        numerator, denominator = raw.get(name, (0.0, None))
        values.append(numerator)
        values.append(math.nan if denominator is None else denominator)
    return _little_endian(values).tobytes()


def unpack_figures(packed: bytes) -> Raw:
    """The raw figures ``pack_figures`` packed."""
    return dict(zip(SUMMED, _pairs(packed), strict=False)) | {
        name: (0.0, None) for name in SUMMED[len(packed) // 16:]}


def team_figures(members: Iterable[bytes]) -> Raw:
    """Team raw figures from its members' packed figures: numerators and denominators
    summed (no denominator when no member has one)."""
    parts = [unpack_figures(packed) for packed in members]
    out: Raw = {}
    for name in SUMMED:
        pairs = [p[name] for p in parts]
        dens = [den for _, den in pairs if den is not None]
        out[name] = (math.fsum(num for num, _ in pairs), math.fsum(dens) if dens else None)
    out["qualified_leads"] = (out["qualified_leads"][0], len(parts))
    return out


def _pairs(packed: bytes) -> Iterator[tuple[float, float | None]]:
    values = _little_endian(array("d", packed))
    for index in range(0, len(values) - 1, 2):
        denominator = values[index + 1]
        yield values[index], None if math.isnan(denominator) else denominator


def _little_endian(values: array[float]) -> array[float]:
    if sys.byteorder == "big":
        values.byteswap()  # stored and sent little-endian, read on either
    return values


def judge_figures(raw: Raw, band_of: Callable[[str], Band]) -> dict[str, KpiValue]:
    """KpiValues (value, status against the band) of every KPI in ``raw``."""
    out = {}
    for name in REP_KPIS:
        band = band_of(name)
        if name == "sales_cycle_yoy_change":
            out[name] = _yoy(raw, band)
            continue
        num, den = raw[name]
        if name == "revenue_growth":
            out[name] = judge(num, den, band, value=num / den - 1 if den else None)
        else:
            out[name] = judge(num, den, band)
    return out


def _yoy(raw: Raw, band: Band) -> KpiValue:
    s_now, n_now = raw["sales_cycle_days"]
    s_prior, n_prior = raw[CYCLE_PRIOR]
    n_now, n_prior = n_now or 0.0, n_prior or 0.0
    mean_now = s_now / n_now if n_now else 0.0
    mean_prior = s_prior / n_prior if n_prior else 0.0
    value = mean_now / mean_prior - 1 if mean_prior else None
    return judge(mean_now, mean_prior, band, value=value, sample=min(n_now, n_prior))


def judge(
    numerator: float, denominator: float | None, band: Band, *,
    value: float | None = None, sample: float | None = None,
) -> KpiValue:
    """One KpiValue: insufficient_data when the denominator is 0 or the sample (the
    denominator unless given) is below the band's min_sample; else value and status."""
    num = float(numerator)
    den = None if denominator is None else float(denominator)
    if sample is None:
        sample = den
    if (den is not None and den == 0) or (sample is not None and sample < band.min_sample):
        return KpiValue(value=None, numerator=num, denominator=den, target=band.target,
                        status=Status.INSUFFICIENT_DATA)
    if value is None:
        value = num if den is None else num / den
    return KpiValue(value=value, numerator=num, denominator=den, target=band.target,
                    status=status_of(value, band))


def status_of(value: float, band: Band) -> Status:
    """ok / warning / breach of a value against a band (exact float comparisons)."""
    if band.target is None:
        return Status.OK
    if band.direction == Direction.HIGHER_IS_BETTER:
        good = value >= band.target
        tolerable = band.breach is None or value >= band.breach
    else:
        good = value <= band.target
        tolerable = band.breach is None or value <= band.breach
    if good:
        return Status.OK
    return Status.WARNING if tolerable else Status.BREACH
