"""Loading and validating the guardrail policy file (streams/policy.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from streams.policy import PolicyError, load_policy, parse_policy
from streams.policy_model import Band, Direction, Tier, default_policy

EXAMPLE = Path(__file__).resolve().parents[2] / "deploy" / "policy.example.yaml"


def errors_of(text: str) -> list[str]:
    with pytest.raises(PolicyError) as caught:
        parse_policy(text)
    return caught.value.errors


def test_the_example_file_is_the_default_policy() -> None:
    assert load_policy(EXAMPLE) == default_policy()


@pytest.mark.parametrize("text", ["", "# nothing but a comment\n", "{}"])
def test_an_empty_file_gives_the_defaults(text: str) -> None:
    assert parse_policy(text) == default_policy()


def test_omitted_keys_keep_their_defaults() -> None:
    policy = parse_policy("""
stages:
  stall_days: {proposal: 20, negotiation: null}
  business_days: true
targets:
  autonomy_level: {target: 0.9}
teams:
  team-a:
    targets:
      pipeline_coverage: {target: 2.0, breach: 1.5}
""")
    base = default_policy()
    assert policy.stages.stall_days == {"prospecting": 21, "qualification": 14, "proposal": 20}
    assert policy.stages.business_days is True
    assert policy.stages.required_fields == base.stages.required_fields
    assert policy.bands["autonomy_level"] == Band(0.9, 0.5, Direction.HIGHER_IS_BETTER, 5)
    assert policy.band("pipeline_coverage", "team-a") == Band(2.0, 1.5,
                                                             Direction.HIGHER_IS_BETTER, 0)
    assert policy.band("pipeline_coverage", "team-b") == base.bands["pipeline_coverage"]
    assert policy.band("autonomy_level", "team-a").target == 0.9  # org value, not overridden
    assert policy.tiers == base.tiers and policy.approvals == base.approvals


def test_tiers_replace_the_default_set() -> None:
    policy = parse_policy("tiers: {rep: {max_discount_pct: 5}}\ndefault_tier: rep\n")
    assert policy.tiers == {"rep": Tier(5)}
    assert policy.tier_limit("junior") == 5  # unknown tier: the default tier's limit


def test_required_fields_can_be_cleared_and_alerts_configured() -> None:
    policy = parse_policy("""
stages:
  required_fields: {proposal: [], closed_won: null, qualification: [next_step]}
alerts: {clear_after_minutes: 5, margins: {pipeline_coverage: 0.25}}
""")
    assert policy.stages.required_fields == {
        "negotiation": ("amount", "expected_close_date", "decision_maker", "next_step"),
        "qualification": ("next_step",),
    }
    assert policy.alerts.clear_after_minutes == 5
    assert policy.alerts.margins["pipeline_coverage"] == 0.25
    assert policy.alerts.margins["autonomy_level"] == 0.02


def test_the_messages_of_the_brief() -> None:
    assert errors_of("tiers:\n  junior: {max_discount_pct: 140}\n") == [
        "policy.yaml: tiers.junior.max_discount_pct: 140 is above 100 (use a percentage 0-100)"]
    assert errors_of("tiers:\n  junior: {max_discount: 10}\n") == [
        "policy.yaml: tiers.junior.max_discount: unknown key (did you mean max_discount_pct?)"]


def test_every_error_is_reported_at_once() -> None:
    errors = errors_of("""
tiers:
  junior: {max_discount_pct: 140}
  senior: {max_discount_pct: 0}
default_tier: intern
approvals: {manager_max_discount_pct: "thirty"}
pricing: {floor_ratio: 1.5}
notes: {min_chars: 20.5, placeholders: call}
stages:
  stall_days: {prospectin: 3, closed_won: 4}
  required_fields: {proposal: [amont]}
  forbid_skipping: "yes"
targets:
  autonomy: {target: 1}
  win_rate: {target: 0.5, breach: 0.9}
  crm_hygiene: {direction: up}
teams: {a: {targets: {pipeline_coverage: {target: x}}}, b: {goals: {}}}
lateness_days: 0
high_value_cluster: 0
wat: 1
""")
    expected_fragments = [
        "tiers.junior.max_discount_pct: 140 is above 100",
        "tiers.senior.max_discount_pct: 0 must be above 0",
        "default_tier: 'intern' is not among tiers",
        "approvals.manager_max_discount_pct: 'thirty' is not a number",
        "pricing.floor_ratio: 1.5 is above 1 (use a ratio 0-1",
        "notes.min_chars: 20.5 is not a whole number",
        "notes.placeholders: expected a list of strings",
        "stages.stall_days.prospectin: unknown open stage (did you mean prospecting?)",
        "stages.stall_days.closed_won: unknown open stage",
        "stages.required_fields.proposal: 'amont' is not a deal field (did you mean amount?)",
        "stages.forbid_skipping: 'yes' is not true or false",
        "targets.autonomy: unknown KPI (did you mean autonomy_level?)",
        "targets.win_rate: breach 0.9 is above target 0.5",
        "targets.crm_hygiene.direction: 'up' is not a direction",
        "teams.a.targets.pipeline_coverage.target: 'x' is not a number",
        "teams.b.goals: unknown key (use one of: targets)",
        "lateness_days: 0 must be above 0",
        "high_value_cluster: 0 is below 1",
        "wat: unknown key",
    ]
    assert len(errors) == len(expected_fragments), "\n".join(errors)
    for fragment in expected_fragments:
        assert any(e.startswith("policy.yaml: ") and fragment in e for e in errors), fragment


def test_lower_is_better_band_must_have_breach_above_target() -> None:
    (error,) = errors_of("targets:\n  sales_cycle_yoy_change: {target: 0.1, breach: -0.5}\n")
    assert "breach -0.5 is below target 0.1" in error


@pytest.mark.parametrize(("text", "fragment"), [
    ("tiers: [junior]\n", "tiers: expected a mapping of keys to values, got a list"),
    ("- 1\n- 2\n", "(top level): expected a mapping"),
    ("tiers: {junior: {}}\n", "tiers.junior: max_discount_pct is missing"),
    ("high_value_amount: .inf\n", "high_value_amount: inf is not a number"),
    ("high_value_amount: true\n", "high_value_amount: True is not a number"),
])
def test_wrong_shapes(text: str, fragment: str) -> None:
    assert any(fragment in e for e in errors_of(text)), errors_of(text)


def test_yaml_syntax_errors_name_the_line() -> None:
    (error,) = errors_of("tiers:\n  junior: {max_discount_pct: 10\nstages: {}\n")
    assert error.startswith("policy.yaml:3:")
    assert "YAML syntax error" in error


def test_file_errors_name_the_file(tmp_path: Path) -> None:
    bad = tmp_path / "mine.yaml"
    bad.write_text("pricing: {floor_ratio: -1}\n")
    with pytest.raises(PolicyError) as caught:
        load_policy(bad)
    assert caught.value.errors == [f"{bad}: pricing.floor_ratio: -1 is below 0 (use a ratio 0-1, "
                                   "e.g. 0.6 for 60 %)"]
    with pytest.raises(PolicyError, match="cannot read the policy file"):
        load_policy(tmp_path / "missing.yaml")
