"""Load and validate a guardrail policy file (YAML) into :class:`Policy`.

The format is documented key by key in ``deploy/policy.example.yaml``. Every section is
optional; an omitted section or key keeps the value of :func:`default_policy`. Mappings
keyed by stage, KPI or team merge onto the defaults entry by entry; ``tiers`` and list
values replace the defaults as a whole. Validation reports every problem at once, each
naming the file, the key path and the fix.
"""

from __future__ import annotations

import difflib
import math
from dataclasses import replace
from pathlib import Path
from typing import Any

import msgspec
import yaml

from schemas.events import OPEN_STAGES, DealUpdated, Envelope, Stage
from streams.policy_model import (
    AlertRules,
    Approvals,
    Band,
    Direction,
    NoteQuality,
    Policy,
    StageRules,
    Tier,
    default_policy,
)

STAGES = tuple(s.value for s in Stage)
OPEN = tuple(s.value for s in OPEN_STAGES)
DEAL_FIELDS = tuple(
    f.name for f in msgspec.structs.fields(DealUpdated)
    if f.name not in {g.name for g in msgspec.structs.fields(Envelope)} | {"deal_id", "stage"}
)
SECTIONS = ("tiers", "default_tier", "approvals", "pricing", "notes", "stages", "targets",
            "teams", "high_value_amount", "high_value_cluster", "lateness_days", "alerts")


class PolicyError(ValueError):
    """The policy file is unusable; ``errors`` lists every problem found."""

    def __init__(self, errors: list[str]) -> None:
        super().__init__("\n".join(errors))
        self.errors = errors


def load_policy(path: str | Path) -> Policy:
    """The policy in the YAML file at ``path``; raises PolicyError listing every problem."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise PolicyError([f"{path}: cannot read the policy file ({error})"]) from None
    return parse_policy(text, source=str(path))


def parse_policy(text: str, source: str = "policy.yaml") -> Policy:
    """The policy in YAML ``text``; ``source`` names the file in error messages."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f"{source}:{mark.line + 1}:{mark.column + 1}" if mark else source
        problem = getattr(error, "problem", None) or str(error)
        raise PolicyError([f"{where}: YAML syntax error: {problem}"]) from None
    return _Reader(source).policy(data)


class _Reader:
    """Walks the parsed YAML, collecting errors instead of stopping at the first."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.errors: list[str] = []

    def error(self, path: str, message: str) -> None:
        self.errors.append(f"{self.source}: {path}: {message}")

    def policy(self, data: Any) -> Policy:
        base = default_policy()
        if data is None:
            return base
        root = self.mapping(data, "(top level)", SECTIONS)
        if root is None:
            raise PolicyError(self.errors)
        tiers = self.tiers(root.get("tiers"), base.tiers) if "tiers" in root else base.tiers
        policy = Policy(
            tiers=tiers,
            default_tier=self.default_tier(root, base, tiers),
            approvals=self.approvals(root.get("approvals"), base.approvals),
            floor_ratio=self.pricing(root.get("pricing"), base.floor_ratio),
            notes=self.notes(root.get("notes"), base.notes),
            stages=self.stages(root.get("stages"), base.stages),
            bands=self.bands(root.get("targets"), "targets", base.bands),
            high_value_amount=self.number(root, "high_value_amount", base.high_value_amount,
                                          "high_value_amount", low=0),
            high_value_cluster=self.integer(root, "high_value_cluster",
                                            base.high_value_cluster, "high_value_cluster",
                                            low=1),
            lateness_days=self.number(root, "lateness_days", base.lateness_days,
                                      "lateness_days", low=0, open_low=True),
            alerts=self.alerts(root.get("alerts"), base.alerts),
        )
        policy = replace(policy, team_bands=self.teams(root.get("teams"), policy.bands))
        if self.errors:
            raise PolicyError(self.errors)
        return policy

    # ----------------------------------------------------------------------- sections

    def tiers(self, node: Any, default: dict[str, Tier]) -> dict[str, Tier]:
        tiers = self.mapping(node, "tiers")
        if tiers is None:
            return default
        if not tiers:
            self.error("tiers", "no tiers defined (define at least one, e.g. junior)")
        out = {}
        for name, body in tiers.items():
            path = f"tiers.{name}"
            fields = self.mapping(body, path, ("max_discount_pct",))
            if fields is None:
                continue
            if "max_discount_pct" not in fields:
                if not set(fields) - {"max_discount_pct"}:  # a typo is reported already
                    self.error(path, "max_discount_pct is missing (the largest discount, "
                                     "in %, this tier may grant alone)")
                continue
            pct = self.number(fields, "max_discount_pct", 1.0, f"{path}.max_discount_pct",
                              high=100, unit="percentage")
            if _is_number(pct) and pct <= 0:
                self.error(f"{path}.max_discount_pct", f"{pct} must be above 0 (the tier's "
                           "limit divides authority_utilisation; use e.g. 1)")
            out[str(name)] = Tier(pct)
        return out

    def default_tier(self, root: dict, base: Policy, tiers: dict[str, Tier]) -> str:
        name = root.get("default_tier", base.default_tier)
        if not isinstance(name, str):
            self.error("default_tier", f"{name!r} is not a tier name (write one of: "
                                       f"{', '.join(tiers)})")
        elif tiers and name not in tiers:
            self.error("default_tier", f"{name!r} is not among tiers (use one of: "
                                       f"{', '.join(tiers)}, or define it under tiers)")
        return str(name)

    def approvals(self, node: Any, base: Approvals) -> Approvals:
        fields = self.section(node, "approvals", ("manager_max_discount_pct",
                                                  "executive_approvers"))
        return Approvals(
            manager_max_discount_pct=self.number(
                fields, "manager_max_discount_pct", base.manager_max_discount_pct,
                "approvals.manager_max_discount_pct", low=0, high=100, unit="percentage"),
            executive_approvers=frozenset(self.strings(
                fields, "executive_approvers", base.executive_approvers,
                "approvals.executive_approvers")),
        )

    def pricing(self, node: Any, base: float) -> float:
        fields = self.section(node, "pricing", ("floor_ratio",))
        return self.number(fields, "floor_ratio", base, "pricing.floor_ratio", low=0, high=1,
                           unit="ratio")

    def notes(self, node: Any, base: NoteQuality) -> NoteQuality:
        fields = self.section(node, "notes", ("min_chars", "placeholders",
                                              "notes_per_account_per_week"))
        return NoteQuality(
            min_chars=self.integer(fields, "min_chars", base.min_chars, "notes.min_chars",
                                   low=0),
            placeholders=frozenset(p.lower() for p in self.strings(
                fields, "placeholders", base.placeholders, "notes.placeholders")),
            notes_per_account_per_week=self.number(
                fields, "notes_per_account_per_week", base.notes_per_account_per_week,
                "notes.notes_per_account_per_week", low=0),
        )

    def stages(self, node: Any, base: StageRules) -> StageRules:
        keys = ("stall_days", "required_fields", "forbid_skipping", "closed_won_note_days",
                "business_days")
        fields = self.section(node, "stages", keys)
        stall = dict(base.stall_days)
        for stage, days in self.keyed(fields, "stall_days", "stages.stall_days", OPEN,
                                      "open stage"):
            if days is None:
                stall.pop(stage, None)
            else:
                stall[stage] = self.number({stage: days}, stage, 0.0,
                                           f"stages.stall_days.{stage}", low=0)
        required = dict(base.required_fields)
        for stage, names in self.keyed(fields, "required_fields", "stages.required_fields",
                                       STAGES, "stage"):
            path = f"stages.required_fields.{stage}"
            listed = self.strings({stage: names or []}, stage, (), path)
            for name in listed:
                if name not in DEAL_FIELDS:
                    self.error(path, f"{name!r} is not a deal field{self.hint(name, DEAL_FIELDS)}")
            required[stage] = tuple(listed)
            if not listed:
                del required[stage]
        return StageRules(
            stall_days=stall,
            required_fields=required,
            forbid_skipping=self.boolean(fields, "forbid_skipping", base.forbid_skipping,
                                         "stages.forbid_skipping"),
            closed_won_note_days=self.integer(fields, "closed_won_note_days",
                                              base.closed_won_note_days,
                                              "stages.closed_won_note_days", low=0),
            business_days=self.boolean(fields, "business_days", base.business_days,
                                       "stages.business_days"),
        )

    def bands(self, node: Any, path: str, base: dict[str, Band]) -> dict[str, Band]:
        out = dict(base)
        entries = self.mapping(node, path) if node is not None else None
        for kpi, body in (entries or {}).items():
            where = f"{path}.{kpi}"
            if kpi not in base:
                self.error(where, f"unknown KPI{self.hint(str(kpi), tuple(base))}")
                continue
            out[kpi] = self.band(body, where, base[kpi])
        return out

    def band(self, node: Any, path: str, base: Band) -> Band:
        fields = self.section(node, path, ("target", "breach", "direction", "min_sample"))
        direction = fields.get("direction", base.direction.value)
        if direction not in ("higher", "lower"):
            self.error(f"{path}.direction", f"{direction!r} is not a direction (write "
                                            "higher or lower: which way is better)")
            direction = base.direction.value
        band = Band(
            target=self.optional_number(fields, "target", base.target, f"{path}.target"),
            breach=self.optional_number(fields, "breach", base.breach, f"{path}.breach"),
            direction=Direction(direction),
            min_sample=self.number(fields, "min_sample", base.min_sample,
                                   f"{path}.min_sample", low=0),
        )
        if band.target is not None and band.breach is not None:
            higher = band.direction == Direction.HIGHER_IS_BETTER
            if (band.breach > band.target) if higher else (band.breach < band.target):
                side = "above" if higher else "below"
                self.error(path, f"breach {band.breach} is {side} target {band.target} "
                                 f"(for a {direction}-is-better KPI the breach threshold "
                                 f"lies on the bad side of the target)")
        return band

    def teams(self, node: Any, org: dict[str, Band]) -> dict[str, dict[str, Band]]:
        teams = self.mapping(node, "teams") if node is not None else None
        out = {}
        for team, body in (teams or {}).items():
            fields = self.section(body, f"teams.{team}", ("targets",))
            bands = self.bands(fields.get("targets"), f"teams.{team}.targets", org)
            out[str(team)] = {kpi: b for kpi, b in bands.items() if b != org[kpi]}
        return out

    def alerts(self, node: Any, base: AlertRules) -> AlertRules:
        fields = self.section(node, "alerts", ("clear_after_minutes", "margins"))
        margins = dict(base.margins)
        names = tuple(default_policy().bands)
        for kpi, margin in self.keyed(fields, "margins", "alerts.margins", names, "KPI"):
            margins[kpi] = self.number({kpi: margin}, kpi, 0.0, f"alerts.margins.{kpi}", low=0)
        return AlertRules(
            clear_after_minutes=self.number(fields, "clear_after_minutes",
                                            base.clear_after_minutes,
                                            "alerts.clear_after_minutes", low=0),
            margins=margins,
        )

    # ------------------------------------------------------------------------ values

    def hint(self, name: str, known: tuple[str, ...]) -> str:
        close = difflib.get_close_matches(name, known, n=1)
        return f" (did you mean {close[0]}?)" if close else f" (use one of: {', '.join(known)})"

    def mapping(self, node: Any, path: str, keys: tuple[str, ...] | None = None) -> dict | None:
        if not isinstance(node, dict):
            self.error(path, f"expected a mapping of keys to values, got {_kind(node)}")
            return None
        if keys is not None:
            for key in node:
                if key not in keys:
                    where = str(key) if path == "(top level)" else f"{path}.{key}"
                    self.error(where, f"unknown key{self.hint(str(key), keys)}")
        return node

    def section(self, node: Any, path: str, keys: tuple[str, ...]) -> dict:
        if node is None:
            return {}
        return self.mapping(node, path, keys) or {}

    def keyed(self, fields: dict, key: str, path: str, names: tuple[str, ...],
              what: str) -> list[tuple[str, Any]]:
        node = fields.get(key)
        entries = self.mapping(node, path) if node is not None else None
        out = []
        for name, value in (entries or {}).items():
            if name not in names:
                self.error(f"{path}.{name}", f"unknown {what}{self.hint(str(name), names)}")
            else:
                out.append((name, value))
        return out

    def number(self, fields: dict, key: str, default: float, path: str, *,
               low: float | None = None, high: float | None = None,
               open_low: bool = False, unit: str = "number") -> Any:
        value = fields.get(key, default)
        if not _is_number(value):
            self.error(path, f"{value!r} is not a number (write a {unit} such as "
                             f"{default if default else 1})")
            return default
        fix = ""
        if unit == "percentage":
            fix = f" (use a percentage {low or 0:g}-{high or 100:g})"
        elif unit == "ratio":
            fix = f" (use a ratio {low or 0:g}-{high or 1:g}, e.g. 0.6 for 60 %)"
        if high is not None and value > high:
            self.error(path, f"{value} is above {high:g}{fix}")
        elif low is not None and (value <= low if open_low else value < low):
            if open_low:
                self.error(path, f"{value} must be above {low:g}{fix or ' (use e.g. 1)'}")
            else:
                self.error(path, f"{value} is below {low:g}"
                                 f"{fix or f' (use a value of at least {low:g})'}")
        return value

    def optional_number(self, fields: dict, key: str, default: float | None,
                        path: str) -> float | None:
        if key in fields and fields[key] is None:
            return None
        return self.number(fields, key, default if default is not None else 0.0, path)

    def integer(self, fields: dict, key: str, default: int, path: str, *, low: int) -> int:
        value = fields.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int):
            self.error(path, f"{value!r} is not a whole number (write e.g. {default})")
            return default
        if value < low:
            self.error(path, f"{value} is below {low} (use a whole number of at least {low})")
        return value

    def boolean(self, fields: dict, key: str, default: bool, path: str) -> bool:
        value = fields.get(key, default)
        if not isinstance(value, bool):
            self.error(path, f"{value!r} is not true or false")
            return default
        return value

    def strings(self, fields: dict, key: str, default: Any, path: str) -> list[str]:
        value = fields.get(key, list(default))
        if value is None:
            return []
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            self.error(path, f"expected a list of strings, got {_kind(value)} (write e.g. "
                             "[a, b])")
            return list(default)
        return value


def _is_number(value: Any) -> bool:
    return (isinstance(value, int | float) and not isinstance(value, bool)
            and math.isfinite(value))


def _kind(value: Any) -> str:
    names: dict[type, str] = {dict: "a mapping", list: "a list", str: "a string",
                              bool: "true/false", type(None): "nothing"}
    return names.get(type(value), f"{value!r}")

