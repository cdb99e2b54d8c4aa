"""Significant change at accelerated (ICH Q1A(R2) §2.2.7) and the standby intermediate pulls it starts. The 5 %
thresholds are worked by hand from the values in each case."""

from datetime import UTC, date, datetime

from sqlmodel import select

from store.audit import AuditEntry
from store.stability import results as stability_results
from store.stability import service as stability
from store.stability.rules import due
from store.stability.schedule import ICH_BY_CODE
from tests import factories

PLACED = date(2027, 1, 31)
CREATED = datetime(2027, 1, 20, 15, tzinfo=UTC)
AFTER_3M = datetime(2027, 5, 10, 15, tzinfo=UTC)  # the 3-month pulls (30 Apr) are made


def _study(session, conditions=("LT25", "INT30", "ACC40"), time_points=None, code="STB-0001"):
    program = factories.programs.by_code(session, "ACME-001") or factories.program(session, CREATED)
    study = stability.create_study(
        session, program=program, actor=factories.ADMIN, now=CREATED, code=code, product="Acmezol 10 mg tablets",
        placed_on=PLACED, duration_months=24, conditions=[ICH_BY_CODE[c] for c in conditions],
        time_points=time_points, lots="L-1, L-2")
    return program, study


def _import(session, program, *rows, now=AFTER_3M):
    rows = [stability_results.ResultRow(i, study, cond, m, attr, v, unit, low, high, batch=lot)
            for i, (study, cond, m, lot, attr, v, unit, low, high) in enumerate(rows, start=2)]
    return stability_results.import_results(session, program=program, actor=factories.ADMIN, now=now, rows=rows,
                                    record_missing=True)


def _reminded(session, now):
    """The pulls with a reminder due at `now` (the key of each is `stability:pull:<id>:<stage>`)."""
    return {int(d.key.split(":")[2]) for d in due(session, now) if d.key.startswith("stability:pull:")}


def test_intermediate_pulls_wait_on_standby_without_reminders(session):
    program, study = _study(session)
    pulls = {(p.condition, p.months): p for p in stability.pulls_of(session, study.id)}
    assert {key for key, p in pulls.items() if p.standby} == {("INT30", 0), ("INT30", 6), ("INT30", 9),
                                                              ("INT30", 12)}
    # 24 Jul 2027: the 6-month pulls (31 Jul) are reminded: LT25 and ACC40 are reminded, INT30 is not
    reminded = _reminded(session, datetime(2027, 7, 24, 15, tzinfo=UTC))
    assert {pulls[("LT25", 6)].id, pulls[("ACC40", 6)].id} <= reminded
    assert not reminded & {pulls[("INT30", 0)].id, pulls[("INT30", 6)].id}
    # a study without an accelerated condition tests intermediate as planned
    _, plain = _study(session, conditions=("LT25", "INT30"), code="STB-0002")
    assert not any(p.standby for p in stability.pulls_of(session, plain.id))


def test_a_five_percent_assay_change_at_accelerated_starts_intermediate_testing(session):
    program, study = _study(session)
    report = _import(
        session, program,
        ("STB-0001", "ACC40", 0, "L-1", "Assay", 100.0, "%", 95, 105),
        ("STB-0001", "ACC40", 3, "L-1", "Assay", 95.1, "%", 95, 105),         # −4.9 %: not significant
        ("STB-0001", "ACC40", 0, "L-2", "Assay (HPLC)", 99.0, "%", 95, 105),
        ("STB-0001", "ACC40", 3, "L-2", "Assay (HPLC)", 94.05, "%", 90, 110),  # −5.0 % of 99.0 (4.95): significant
        ("STB-0001", "LT25", 3, "L-1", "Assay", 94.0, "%", 90, 110),           # long term: not this rule
        ("STB-0001", "ACC40", 3, "L-1", "Water content", 2.1, "%", None, 3.0),  # +110 % of nothing: not an assay
    )
    assert not report.rejected
    [change] = report.changes
    assert (change.result.batch, change.result.attribute, change.result.value) == ("L-2", "Assay (HPLC)", 94.05)
    assert change.reason == "-5.0 % from the initial 99 (ICH Q1A(R2): 5 % or more)"
    started = report.started["STB-0001"]
    assert sorted((p.condition, p.months) for p in started) == [("INT30", 0), ("INT30", 6), ("INT30", 9),
                                                               ("INT30", 12)]
    pulls = {(p.condition, p.months): p for p in stability.pulls_of(session, study.id)}
    assert not any(p.standby for p in pulls.values()) and pulls[("INT30", 6)].activated_on == date(2027, 5, 10)
    # reminded from now on, dated from placement; the 0-month window closed before the start: no missed alert
    reminded = _reminded(session, datetime(2027, 7, 24, 15, tzinfo=UTC))
    assert pulls[("INT30", 6)].id in reminded and pulls[("INT30", 0)].id not in reminded
    actions = [e.action for e in session.exec(select(AuditEntry))]
    assert actions.count("significant_change") == 1 and actions.count("intermediate_started") == 1

    # a later significant change finds nothing on standby: the pulls are not started twice
    again = _import(session, program, ("STB-0001", "ACC40", 3, "L-1", "Impurity B", 0.8, "%", None, 0.5))
    assert [c.reason for c in again.changes] == ["outside its specification (–0.5)"]
    assert again.started == {"STB-0001": []}
    actions = [e.action for e in session.exec(select(AuditEntry))]
    assert actions.count("intermediate_started") == 1


def test_initial_value_from_another_condition_and_a_study_without_intermediate(session):
    # no time-0 pull at ACC40: the batch's initial (time-0) result at LT25 is the reference
    program, study = _study(session, conditions=("LT25", "ACC40"), time_points={"LT25": [0, 3, 6], "ACC40": [3, 6]})
    report = _import(
        session, program,
        ("STB-0001", "ACC40", 3, "L-1", "Potency", 104.0, "%", 90, 110),  # +5.0 % of 99.0 = 103.95: 104 is above
        ("STB-0001", "LT25", 0, "L-1", "Potency", 99.0, "%", 90, 110),
        ("STB-0001", "ACC40", 3, "L-2", "Potency", 103.0, "%", 90, 110),  # L-2 has no initial value: no rule
    )
    [change] = report.changes
    assert change.result.batch == "L-1" and change.reason.startswith("+5.1 % from the initial 99")
    assert report.started == {"STB-0001": []}


def test_a_custom_intermediate_condition_waits_like_int30(session):
    lines = "30/65 = 30 °C / 65 % RH intermediate\n25/40 = 25 °C / 40 % RH"
    custom = stability.parse_conditions(["LT25", "ACC40"], lines)
    assert [(c.code, c.kind) for c in custom] == [("LT25", "long_term"), ("ACC40", "accelerated"),
                                                  ("30/65", "intermediate"), ("25/40", "long_term")]
    program = factories.program(session, CREATED)
    study = stability.create_study(session, program=program, actor=factories.ADMIN, now=CREATED, code="STB-0003",
                                   product="Acmezol", placed_on=PLACED, duration_months=12, conditions=custom)
    assert {p.condition for p in stability.pulls_of(session, study.id) if p.standby} == {"30/65"}
    report = _import(session, program, ("STB-0003", "ACC40", 3, "", "Assay", 80.0, "%", 90, 110))
    assert [p.condition for p in report.started["STB-0003"]] == ["30/65"] * 4  # 0, 6, 9, 12 months
