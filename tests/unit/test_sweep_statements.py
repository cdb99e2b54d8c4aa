"""A sweep with every rule runs as many SQL statements for 12 programs as for 2 — its first pass of a period
(digests composed, reminders queued) and its steady state (everything already queued) alike — so its cost
follows what is due, not the number of rows; the scheduler's pass after a change to one program reads as many
statements and rows for 12 as for 3. (How long it takes is measured by `python -m bench`.)"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlmodel import col, select

from scheduler.rules import RULES
from scheduler.sweep import sweep
from store import programs as programs_
from store.db import transaction
from store.outbox import Outbox
from store.programs import Program, Role
from tests import factories
from tests.conftest import wipe
from tests.statements import counted, rows_read

NOW = datetime(2026, 11, 2, 15, 0, tzinfo=UTC)  # a Monday, 10:00 in New York: weekly digests fall due


def _two_passes(engine, programs: int) -> tuple[int, int, set[str]]:
    """On an empty database, a portfolio of `programs`, then the statements of a first and a second sweep as
    of NOW, and the kinds of message the first queued (each key without its ids and dates); a third, the
    scheduler's reusing pass, skips the rules: two reads."""
    wipe(engine)
    with transaction(engine) as session:
        factories.portfolio(session, NOW, range(programs))
    counts = []
    for _ in range(2):
        with counted(engine) as statements, transaction(engine) as session:
            result = sweep(session, NOW, RULES)
        counts.append(len(statements))
        if len(counts) == 1:
            with transaction(engine) as session:
                kinds = {":".join(p for p in key.split(":") if not p[0].isdigit())
                         for key in session.exec(select(Outbox.key))}
        else:
            assert result.inserted == [] and result.cancelled == 0  # the steady state writes nothing
    with counted(engine) as statements, transaction(engine) as session:
        assert sweep(session, NOW, RULES, reuse=True).inserted == []
    assert [s.split()[0] for s in statements if not s.startswith("BEGIN")] == ["SELECT", "SELECT"]
    return counts[0], counts[1], kinds


def test_sweep_runs_as_many_statements_for_12_programs_as_for_2(engine):
    small_first, small_again, small_kinds = _two_passes(engine, 2)
    large_first, large_again, large_kinds = _two_passes(engine, 12)
    assert small_kinds == large_kinds == {  # something from every area, so every rule's queries ran for real
        "program:digest", "agreement:renewal", "batch:r1:reminder", "batch:r1:sla", "stability:pull:missed",
        "stability:pull:window-open", "submission_item:due:overdue", "submission_item:due:remind"}
    assert (large_first, large_again) == (small_first, small_again)


def _after_one_change(engine, programs: int) -> tuple[int, list[int], set[str]]:
    """On an empty database, a portfolio of `programs` and the scheduler's first pass (in full), then a new
    manager in P-000 and the next pass: its statements, the rows each of its reads returned, and the programs
    of what it queued (the pass must have asked the rules, and about P-000 alone)."""
    wipe(engine)
    with transaction(engine) as session:
        factories.portfolio(session, NOW, range(programs))
    with transaction(engine) as session:
        assert sweep(session, NOW, RULES, reuse=True).inserted
    with transaction(engine) as session:
        program = session.exec(select(Program).where(Program.code == "P-000")).one()
        programs_.add_member(session, program, "UNEW", Role.program_manager, actor=factories.ADMIN,
                             now=NOW + timedelta(minutes=1))
    with counted(engine) as statements, rows_read() as rows, transaction(engine) as session:
        inserted = sweep(session, NOW + timedelta(minutes=5), RULES, reuse=True).inserted
    with transaction(engine) as session:
        codes = set(session.exec(select(Program.code).join(Outbox, col(Outbox.program_id) == Program.id)
                                 .where(col(Outbox.id).in_(inserted))))
    return len(statements), rows, codes


def test_a_pass_after_a_change_to_one_program_reads_that_program_alone(engine):
    """The reusing pass after one program changed asks the rules about it alone, in their queries: as many
    statements, and as many rows read by each, for 12 programs as for 3 (every program of the portfolio has the
    same records, so reading any other program's would show in the counts; 3, so that both span the three time
    zones, whose list the pass reads)."""
    small_statements, small_rows, small_codes = _after_one_change(engine, 3)
    large_statements, large_rows, large_codes = _after_one_change(engine, 12)
    assert small_codes == large_codes == {"P-000"}  # the new manager's alerts, and only theirs
    assert (large_statements, large_rows) == (small_statements, small_rows)
