"""The three KPIs the baselines compute (autonomy level, discount violations, CRM
hygiene), as plain functions over JSON dicts, so the naive Faust app and the Quix
Streams app run the same rules with the product's policy, and only their runtimes differ.

Per rep: ``{"tier", "within", "decisions", "violations"}`` (autonomy = within ÷
decisions); per account: ``{"rep", "last_note"}`` (hygiene = accounts whose last
qualifying note is recent ÷ accounts, summed per rep at read time).
"""

from __future__ import annotations

from typing import Any

from streams.guardrails import below_floor
from streams.notes import is_qualifying
from streams.policy_model import default_policy

POLICY = default_policy()


def new_rep() -> dict[str, Any]:
    """A rep nothing is known about yet."""
    return {"tier": None, "within": 0, "decisions": 0, "violations": 0}


def apply_to_rep(rep: dict[str, Any], event: dict[str, Any]) -> list[dict[str, Any]]:
    """Update a rep's autonomy and violation counts with a roster, discount or approval
    event; returns the violations the event broke (discounts only)."""
    kind = event["type"]
    if kind == "rep.updated":
        rep["tier"] = event["tier"]
        return []
    if kind == "approval.requested":  # an escalation: a decision not taken alone
        rep["decisions"] += 1
    if kind != "discount.granted":
        return []
    rep["decisions"] += 1
    pct, alone = event["discount_pct"], event.get("approval_id") is None
    over = pct > POLICY.tier_limit(rep["tier"])
    rep["within"] += alone and not over
    rules = ["discount_over_authority"] if alone and over else []
    if below_floor(pct, POLICY):
        rules.append("discount_below_floor")
    rep["violations"] += len(rules)
    return [
        {"rule": rule, "rep_id": event["rep_id"], "deal_id": event["deal_id"],
         "event_id": event["event_id"], "discount_pct": pct}
        for rule in rules
    ]


def apply_to_account(account: dict[str, Any], event: dict[str, Any]) -> None:
    """Record a deal's owner, or a qualifying note's time, on its account."""
    if event["type"] == "deal.updated":
        account["rep"] = event["rep_id"]
    elif is_qualifying(event["body"], POLICY.notes):
        account["last_note"] = max(account.get("last_note", ""), event["occurred_at"])
