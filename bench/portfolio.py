"""A big, plausible portfolio in whatever tables exist, written with bulk inserts (SQLAlchemy core).

One builder per known table says the columns that carry meaning (dates around `today` so that reminders
fall due, statuses in a realistic mix, channels and people); every other NOT NULL column an area adds
later is filled by type. A table that is not in the schema (its area not merged yet) is skipped and
reported by `fill`, so the benchmarks run on whatever main holds.

Sizes at scale 1 are the sweep benchmark's unit (50 programs, 500 agreements, 2,000 batches, 10,000
stability pulls); the acknowledgement benchmark uses scale 10 (500 / 5,000 / 20,000 / 100,000).
"""

from __future__ import annotations

import random
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import JSON, Boolean, Date, DateTime, Float, Integer, String, Table, insert, select
from sqlalchemy.engine import Engine

from store.models import metadata

UNIT = {"program": 50, "agreement": 500, "batch": 2_000, "stability_pull": 10_000}
PULLS_PER_STUDY = 20  # 2 conditions x 10 time points
ITEMS_PER_SUBMISSION = 20
MONTHS = (0, 1, 3, 6, 9, 12, 18, 24, 36, 48)
CONDITIONS = ("LT25", "ACC40")
ZONES = ("America/New_York", "Europe/Berlin", "America/Chicago", "Asia/Singapore", "Europe/Dublin", "UTC")
ROLES = ("program_manager", "cmo_quality", "customer_approver", "stability", "regulatory")
CHUNK = 5_000
PROGRAMS_PER_PM = 10  # a program manager of the benchmark sees this many programs


def pm_of(program_index: int) -> str:
    return f"UPM{program_index // PROGRAMS_PER_PM:04d}"


def channel_of(program_index: int) -> str:
    return f"CP{program_index:05d}"


@dataclass
class Context:
    today: date
    now: datetime
    rng: random.Random
    ids: dict[str, list[int]] = field(default_factory=dict)  # table → primary keys inserted, in order
    rows: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # kept for children that need them

    def day(self, low: int, high: int) -> date:
        return self.today + timedelta(days=self.rng.randint(low, high))

    def instant(self, on: date) -> datetime:
        return datetime.combine(on, time(14, 0), tzinfo=UTC)


Builder = Callable[[int, Context], dict[str, Any]]


def _program(i: int, c: Context) -> dict[str, Any]:
    return {"code": f"P{i:04d}", "customer": f"Customer {i % 97}", "products": f"Product {i}",
            "channel_id": channel_of(i), "timezone": ZONES[i % len(ZONES)], "status_cadence": "weekly",
            "holiday_calendar": "US", "settings": {}, "active": True, "created_at": c.now - timedelta(days=400)}


def _member(i: int, c: Context) -> dict[str, Any]:
    program, role = divmod(i, len(ROLES))
    user = pm_of(program) if ROLES[role] == "program_manager" else f"U{ROLES[role][:3].upper()}{program % 40:03d}"
    return {"program_id": c.ids["program"][program], "user_id": user, "role": ROLES[role],
            "external": ROLES[role] == "customer_approver"}


def _agreement(i: int, c: Context) -> dict[str, Any]:
    program = i % len(c.ids["program"])
    status = c.rng.choices(("executed", "negotiation", "draft", "superseded"), (70, 15, 10, 5))[0]
    effective = c.day(-1500, -30)
    expires = effective + timedelta(days=c.rng.choice((365, 730, 1095, 1825)))
    return {"program_id": c.ids["program"][program], "ref": f"AG-{i:05d}",
            "kind": ("nda", "quality", "msa", "supply", "other")[i % 5], "counterparty": f"Customer {program % 97}",
            "status": status, "version": "v1", "effective_on": effective, "expires_on": expires,
            "evergreen": c.rng.random() < 0.1, "notice_days": 90, "owner_id": pm_of(program),
            "created_by": pm_of(program), "created_at": c.instant(effective), "updated_at": c.instant(effective)}


def _batch(i: int, c: Context) -> dict[str, Any]:
    program = i % len(c.ids["program"])
    status = c.rng.choices(("approved", "awaiting", "on_hold", "rejected"), (80, 12, 4, 4))[0]
    ready = c.day(-120, 0)
    decided = ready + timedelta(days=c.rng.randint(1, 10)) if status in ("approved", "rejected") else None
    return {"program_id": c.ids["program"][program], "batch_no": f"B-{i:06d}", "product": f"Product {program}",
            "release_by": ready + timedelta(days=30), "status": status, "ready_at": c.instant(ready),
            "ready_on": ready, "ready_by": pm_of(program), "review_round": 1, "round_started_on": ready,
            "decided_at": c.instant(decided) if decided else None, "decided_on": decided,
            "decided_by": f"UCUS{program % 40:03d}" if decided else None}


def _study(i: int, c: Context) -> dict[str, Any]:
    program = i % len(c.ids["program"])
    placed = c.day(-1500, -1)
    return {"program_id": c.ids["program"][program], "code": f"STB-{i:05d}", "product": f"Product {program}",
            "lots": f"L{i}", "protocol": f"PR-{i}", "duration_months": 48, "placed_on": placed,
            "conditions": [{"code": code, "label": code, "kind": "accelerated" if code == "ACC40" else "long_term"}
                           for code in CONDITIONS],
            "created_by": pm_of(program), "created_at": c.instant(placed)}


def _pull(i: int, c: Context) -> dict[str, Any]:
    study_index, rest = divmod(i, PULLS_PER_STUDY)
    condition, point = divmod(rest, len(MONTHS))
    study = c.rows["stability_study"][study_index]
    months = MONTHS[point]
    year, month = divmod(study["placed_on"].month - 1 + months, 12)
    due = study["placed_on"].replace(year=study["placed_on"].year + year, month=month + 1, day=1)
    due += timedelta(days=min(study["placed_on"].day, 28) - 1)
    pulled = due + timedelta(days=c.rng.randint(-3, 3)) if due < c.today - timedelta(days=10) else None
    return {"study_id": c.ids["stability_study"][study_index], "program_id": study["program_id"],
            "condition": CONDITIONS[condition], "months": months, "due_on": due, "opens_on": due - timedelta(days=7),
            "closes_on": due + timedelta(days=7), "pulled_on": pulled, "pulled_by": "USTA000" if pulled else None,
            "pulled_at": c.instant(pulled) if pulled else None}


def _submission(i: int, c: Context) -> dict[str, Any]:
    program = i % len(c.ids["program"])
    return {"program_id": c.ids["program"][program], "number": i + 1, "kind": "ctd_module3",
            "title": f"Filing {i}", "filing_date": c.day(-30, 180), "created_by": pm_of(program),
            "created_at": c.now - timedelta(days=60)}


def _item(i: int, c: Context) -> dict[str, Any]:
    submission, number = divmod(i, ITEMS_PER_SUBMISSION)
    parent = c.rows["submission"][submission]
    status = c.rng.choices(("approved", "received", "requested", "not_started"), (40, 20, 25, 15))[0]
    return {"submission_id": c.ids["submission"][submission], "number": number + 1, "section": f"3.2.P.{number}",
            "document": f"Document {number}", "owner": f"UREG{submission % 40:03d}",
            "due_on": parent["filing_date"] - timedelta(days=c.rng.randint(5, 60)), "status": status}


@dataclass(frozen=True)
class Plan:
    table: str
    count: Callable[[dict[str, int]], int]  # from the counts of the tables before it
    build: Builder
    keep: bool = False  # keep the rows for children


PLANS = (
    Plan("program", lambda n: n["program"], _program),
    Plan("program_member", lambda n: n["program"] * len(ROLES), _member),
    Plan("agreement", lambda n: n["agreement"], _agreement),
    Plan("batch", lambda n: n["batch"], _batch),
    Plan("stability_study", lambda n: n["stability_pull"] // PULLS_PER_STUDY, _study, keep=True),
    Plan("stability_pull", lambda n: n["stability_pull"], _pull),
    Plan("submission", lambda n: n["program"] * 2, _submission, keep=True),
    Plan("submission_item", lambda n: n["program"] * 2 * ITEMS_PER_SUBMISSION, _item),
)


def _by_type(column, i: int, c: Context) -> Any:
    """A value for a NOT NULL column no builder knows (an area added it after this file was written)."""
    kind = column.type
    if isinstance(kind, Boolean):
        return False
    if isinstance(kind, Integer):
        return 0
    if isinstance(kind, Float):
        return 0.0
    if isinstance(kind, DateTime) or getattr(kind, "impl", None) is not None and isinstance(kind.impl, DateTime):
        return c.now
    if isinstance(kind, Date):
        return c.today
    if isinstance(kind, JSON) or "JSON" in type(kind).__name__:
        return {}
    if isinstance(kind, String):
        return f"{column.name[: max(1, (kind.length or 40) - 8)]}-{i}"[: kind.length or 40]
    return None


def _complete(table: Table, row: dict[str, Any], i: int, c: Context) -> dict[str, Any]:
    known = {k: v for k, v in row.items() if k in table.c}
    for column in table.columns:
        if column.name in known or column.primary_key or column.nullable or column.default is not None:
            continue
        if column.server_default is not None:
            continue
        known[column.name] = _by_type(column, i, c)
    return known


def fill(engine: Engine, scale: float = 1, today: date = date(2026, 11, 2), seed: int = 20261125,
         tables: Collection[str] | None = None) -> dict[str, int]:
    """Insert the portfolio into an empty, migrated database; return the rows written per table. `tables`
    limits it to those (the programs and their members alone, for `bench.memory`'s imports)."""
    counts = {name: max(1, round(n * scale)) for name, n in UNIT.items()}
    c = Context(today, datetime.combine(today, time(10, 0), tzinfo=UTC), random.Random(seed))
    written: dict[str, int] = {}
    with engine.begin() as connection:
        for plan in (p for p in PLANS if tables is None or p.table in tables):
            table = metadata.tables.get(plan.table)
            if table is None:
                written[plan.table] = 0  # the area is not in this schema
                continue
            total = plan.count(counts)
            kept: list[dict[str, Any]] = []
            for start in range(0, total, CHUNK):
                rows = [_complete(table, plan.build(i, c), i, c) for i in range(start, min(total, start + CHUNK))]
                connection.execute(insert(table), rows)
                if plan.keep:
                    kept += rows
            pk = list(table.primary_key.columns)[0]
            c.ids[plan.table] = list(connection.execute(select(pk).order_by(pk)).scalars())
            c.rows[plan.table] = kept
            written[plan.table] = total
    return written


def missing_areas() -> list[str]:
    """The portfolio tables this schema does not have (their area is not merged)."""
    return [p.table for p in PLANS if p.table not in metadata.tables]
