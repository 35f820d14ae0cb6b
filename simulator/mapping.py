"""The column-mapping file of a CSV opportunity export (YAML), validated on load.

A mapping says which CSV column holds each deal field, how the export writes dates
and amounts, and how its stage, deal-type and owner names translate to Latitude's.
The example files in ``deploy/replay/`` document every key; errors name the file and
the key so the fix is obvious.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml

from schemas.events import DealKind, Stage
from simulator.parsing import DATE_ORDERS, zone

DEAL_COLUMNS_REQUIRED = ("deal_id", "account_id", "owner", "stage", "amount", "created_at")
DEAL_COLUMNS_OPTIONAL = (
    "close_date", "currency", "kind", "updated_at", "next_step", "decision_maker",
    "is_won", "is_closed",
)
HISTORY_COLUMNS_REQUIRED = ("deal_id", "stage", "changed_at")
HISTORY_COLUMNS_OPTIONAL = ("amount", "close_date")
_TOP_KEYS = frozenset({
    "source", "date_order", "decimal", "delimiter", "timezone", "encoding", "skip_footer",
    "defaults", "columns", "stages", "kinds", "owners", "history",
})


class MappingError(ValueError):
    """A mapping file that cannot be used; the message names the file and the key."""


def fold(text: str) -> str:
    """The comparison form of a header, stage, type or owner name: trimmed, case-folded,
    inner whitespace collapsed."""
    return " ".join(text.split()).casefold()


@dataclass(frozen=True, slots=True)
class Mapping:
    """How to read one CRM's opportunity export (and its stage-history export)."""

    source: str
    columns: dict[str, str]  # deal field -> CSV header
    stages: dict[str, Stage]  # folded CRM stage name -> stage
    date_order: str = "dmy"
    decimal: str = "."
    delimiter: str = ","
    timezone: dt.tzinfo = dt.UTC
    encoding: str = "utf-8"
    skip_footer: bool = False
    currency: str | None = None
    kind: DealKind = DealKind.NEW_BUSINESS
    kinds: dict[str, DealKind] = field(default_factory=dict)  # folded CRM type -> kind
    owners: dict[str, str] | None = None  # folded owner name -> rep id; None: owner is the id
    history_columns: dict[str, str] | None = None

    def with_date_order(self, order: str | None) -> Mapping:
        """A copy whose date order is ``order`` (None keeps the file's)."""
        if order is None:
            return self
        if order not in DATE_ORDERS:
            raise MappingError(f"date order {order!r} is not one of {', '.join(DATE_ORDERS)}")
        return replace(self, date_order=order)


def load_mapping(path: str | Path) -> Mapping:
    """Read and validate a mapping file."""
    where = str(path)
    try:
        raw = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except OSError as error:
        raise MappingError(f"{where}: cannot read ({error.strerror})") from error
    except yaml.YAMLError as error:
        raise MappingError(f"{where}: not valid YAML ({error})") from error
    return parse_mapping(raw, where)


def parse_mapping(raw: Any, where: str = "mapping") -> Mapping:
    """Validate a mapping already loaded from YAML (``where`` names it in errors)."""
    doc = _mapping(raw, where)
    unknown = sorted(set(doc) - _TOP_KEYS)
    if unknown:
        known = ", ".join(sorted(_TOP_KEYS))
        raise MappingError(f"{where}: unknown key {unknown[0]!r} (known: {known})")
    columns = _columns(doc.get("columns"), f"{where}: columns",
                       DEAL_COLUMNS_REQUIRED, DEAL_COLUMNS_OPTIONAL)
    defaults = _mapping(doc.get("defaults", {}), f"{where}: defaults")
    currency = defaults.get("currency")
    if currency is not None and not (isinstance(currency, str) and len(currency) == 3
                                     and currency.isalpha() and currency.isupper()):
        raise MappingError(f"{where}: defaults: currency: {currency!r} is not an ISO 4217 code")
    if currency is None and "currency" not in columns:
        raise MappingError(f"{where}: defaults: currency is needed when no currency column "
                           "is mapped")
    history = None
    if doc.get("history") is not None:
        history_doc = _mapping(doc["history"], f"{where}: history")
        history = _columns(history_doc.get("columns"), f"{where}: history: columns",
                           HISTORY_COLUMNS_REQUIRED, HISTORY_COLUMNS_OPTIONAL)
    order = doc.get("date_order", "dmy")
    if order not in DATE_ORDERS:
        raise MappingError(f"{where}: date_order: {order!r} is not one of dmy, mdy")
    decimal = doc.get("decimal", ".")
    if decimal not in {".", ","}:
        raise MappingError(f"{where}: decimal: {decimal!r} must be '.' or ','")
    delimiter = doc.get("delimiter", ",")
    if not (isinstance(delimiter, str) and len(delimiter) == 1):
        raise MappingError(f"{where}: delimiter: {delimiter!r} must be one character")
    try:
        tz = zone(str(doc.get("timezone", "UTC")))
    except (KeyError, ValueError) as error:
        raise MappingError(f"{where}: timezone: unknown time zone ({error})") from error
    owners = doc.get("owners")
    return Mapping(
        source=_text(doc.get("source", "csv-replay"), f"{where}: source"),
        columns=columns,
        stages=_names(doc.get("stages"), f"{where}: stages", Stage),
        date_order=order, decimal=decimal, delimiter=delimiter, timezone=tz,
        encoding=_text(doc.get("encoding", "utf-8"), f"{where}: encoding"),
        skip_footer=bool(doc.get("skip_footer", False)),
        currency=currency,
        kind=_enum(defaults.get("kind", "new_business"), DealKind, f"{where}: defaults: kind"),
        kinds=_names(doc.get("kinds", {}), f"{where}: kinds", DealKind, required=False),
        owners=None if owners is None else {
            fold(k): v for k, v in _names(owners, f"{where}: owners", str).items()},
        history_columns=history,
    )


def _mapping(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise MappingError(f"{where}: expected a mapping of keys to values")
    return value


def _text(value: Any, where: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise MappingError(f"{where}: expected a non-empty text")
    return value


def _enum(value: Any, kind: type, where: str) -> Any:
    try:
        return kind(value)
    except ValueError:
        allowed = ", ".join(str(v) for v in kind)  # type: ignore[attr-defined]
        raise MappingError(f"{where}: {value!r} is not one of {allowed}") from None


def _columns(value: Any, where: str, required: tuple[str, ...],
             optional: tuple[str, ...]) -> dict[str, str]:
    doc = _mapping(value, where)
    for name in doc:
        if name not in required and name not in optional:
            raise MappingError(f"{where}: {name!r} is not a field "
                               f"(fields: {', '.join(required + optional)})")
    for name in required:
        if name not in doc:
            raise MappingError(f"{where}: {name} is required (the CSV column that holds it)")
    return {name: _text(header, f"{where}: {name}") for name, header in doc.items()
            if header is not None}


def _names(value: Any, where: str, kind: type, required: bool = True) -> dict[str, Any]:
    doc = _mapping(value, where)
    if required and not doc:
        raise MappingError(f"{where}: needs at least one entry")
    out: dict[str, Any] = {}
    for name, target in doc.items():
        key = f"{where}: {name}"
        out[fold(str(name))] = _text(target, key) if kind is str else _enum(target, kind, key)
    return out
