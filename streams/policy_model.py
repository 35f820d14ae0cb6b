"""The guardrail policy as typed, immutable values (SPEC section 2).

Loading and validating the YAML file lives in ``streams.policy``; this module is only
the shape, so the engine and the test oracle share one definition.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class Direction(StrEnum):
    HIGHER_IS_BETTER = "higher"
    LOWER_IS_BETTER = "lower"


@dataclass(frozen=True, slots=True)
class Band:
    """Target and breach threshold of one KPI; ``target=None`` means reported only."""

    target: float | None
    breach: float | None
    direction: Direction = Direction.HIGHER_IS_BETTER
    min_sample: float = 0


@dataclass(frozen=True, slots=True)
class Tier:
    max_discount_pct: float


@dataclass(frozen=True, slots=True)
class Approvals:
    manager_max_discount_pct: float
    executive_approvers: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class NoteQuality:
    min_chars: int = 20
    placeholders: frozenset[str] = frozenset({"n/a", "na", "call", "email", "tbd", "-", "."})
    notes_per_account_per_week: float = 1.0


@dataclass(frozen=True, slots=True)
class StageRules:
    stall_days: dict[str, float]
    required_fields: dict[str, tuple[str, ...]]
    forbid_skipping: bool = True
    closed_won_note_days: int = 14
    business_days: bool = False


# Hysteresis margins of in-stream alerts, in each KPI's own unit (ratios: 0.02 = 2 points).
DEFAULT_ALERT_MARGINS: dict[str, float] = {
    "autonomy_level": 0.02,
    "crm_hygiene": 0.02,
    "pipeline_coverage": 0.1,
    "revenue_attainment": 0.02,
    "expansion_share": 0.02,
    "qualified_leads": 1.0,
    "revenue_growth": 0.02,
    "sales_cycle_yoy_change": 0.02,
    "customer_alignment": 0.02,
    "coaching_adoption": 0.02,
}


@dataclass(frozen=True, slots=True)
class AlertRules:
    """Hysteresis of in-stream alerts: a firing alert resolves only once its KPI is back
    past the threshold by ``margins[kpi]`` (0 when not listed), or has stayed back on the
    good side for ``clear_after_minutes`` of stream time."""

    clear_after_minutes: float = 60.0
    margins: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_ALERT_MARGINS))


@dataclass(frozen=True, slots=True)
class Policy:
    tiers: dict[str, Tier]
    default_tier: str
    approvals: Approvals
    floor_ratio: float
    notes: NoteQuality
    stages: StageRules
    bands: dict[str, Band]
    team_bands: dict[str, dict[str, Band]] = field(default_factory=dict)
    high_value_amount: float = 100_000.0
    high_value_cluster: int = 3
    lateness_days: float = 7.0
    alerts: AlertRules = field(default_factory=AlertRules)

    def band(self, kpi: str, team: str | None) -> Band:
        """The band of ``kpi`` for ``team``, falling back to the organisation default."""
        if team is not None:
            override = self.team_bands.get(team, {}).get(kpi)
            if override is not None:
                return override
        return self.bands[kpi]

    def tier_limit(self, tier: str | None) -> float:
        """The maximum discount a rep of ``tier`` may grant alone."""
        found = self.tiers.get(tier) if tier is not None else None
        return (found or self.tiers[self.default_tier]).max_discount_pct


H = Direction.HIGHER_IS_BETTER
L = Direction.LOWER_IS_BETTER

# Defaults from the seeds (SPEC section 3); the example policy in deploy/ repeats them.
DEFAULT_BANDS: dict[str, Band] = {
    "autonomy_level": Band(0.80, 0.50, H, 5),
    "escalation_rate": Band(None, None, H, 5),
    "authority_utilisation": Band(None, None, H, 1),
    "critical_violations_7d": Band(0, 0, L, 0),
    "violations_30d": Band(None, None, L, 0),
    "crm_hygiene": Band(0.95, 0.90, H, 3),
    "pipeline_coverage": Band(3.0, 2.0, H, 0),
    "revenue_attainment": Band(1.0, 0.8, H, 0),
    "expansion_share": Band(0.20, 0.10, H, 0),
    "qualified_leads": Band(15, 10, H, 1),
    "revenue_growth": Band(0.10, 0.0, H, 0),
    "sales_cycle_days": Band(None, None, L, 1),
    "sales_cycle_yoy_change": Band(-0.15, 0.0, L, 3),
    "win_rate": Band(None, None, H, 5),
    "close_date_pushes": Band(None, None, L, 1),
    "stalled_deals": Band(0, None, L, 0),
    "stalled_value": Band(None, None, L, 0),
    "customer_alignment": Band(0.85, 0.75, H, 3),
    "coaching_adoption": Band(0.90, 0.75, H, 1),
    "stalled_high_value_clusters": Band(0, 0, L, 0),
}


def default_policy() -> Policy:
    """The policy the seeds describe, used when no file is given and by tests."""
    return Policy(
        tiers={"junior": Tier(10.0), "senior": Tier(20.0), "principal": Tier(25.0)},
        default_tier="junior",
        approvals=Approvals(manager_max_discount_pct=30.0, executive_approvers=frozenset()),
        floor_ratio=0.60,
        notes=NoteQuality(),
        stages=StageRules(
            stall_days={
                "prospecting": 21,
                "qualification": 14,
                "proposal": 14,
                "negotiation": 10,
            },
            required_fields={
                "proposal": ("amount", "expected_close_date"),
                "negotiation": ("amount", "expected_close_date", "decision_maker", "next_step"),
                "closed_won": ("amount",),
            },
        ),
        bands=dict(DEFAULT_BANDS),
    )
