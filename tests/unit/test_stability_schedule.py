from datetime import date

import pytest

from store.stability.schedule import (
    Kind,
    Window,
    default_time_points,
    plan,
    pull_date,
    window_for,
    window_rules,
)


@pytest.mark.parametrize(("placed", "months", "expected"), [
    (date(2027, 1, 31), 1, date(2027, 2, 28)),   # clamps to the end of February
    (date(2028, 1, 31), 1, date(2028, 2, 29)),   # leap year
    (date(2027, 1, 31), 3, date(2027, 4, 30)),   # not 28 April: never chained from the 1-month date
    (date(2027, 1, 31), 6, date(2027, 7, 31)),
    (date(2027, 1, 31), 9, date(2027, 10, 31)),
    (date(2027, 1, 31), 13, date(2028, 2, 29)),
    (date(2028, 2, 29), 12, date(2029, 2, 28)),  # leap-day placement, a year on
    (date(2028, 2, 29), 48, date(2032, 2, 29)),  # … and four years on
    (date(2028, 2, 29), 3, date(2028, 5, 29)),
    (date(2026, 8, 31), 6, date(2027, 2, 28)),
    (date(2026, 8, 31), 18, date(2028, 2, 29)),
    (date(2026, 11, 30), 3, date(2027, 2, 28)),
    (date(2026, 11, 25), 0, date(2026, 11, 25)),
])
def test_pull_dates_by_hand(placed, months, expected):
    assert pull_date(placed, months) == expected


def test_plan_never_chains_and_gives_windows():
    pulls = plan(date(2027, 1, 31), {"LT25": [0, 1, 3, 6, 9, 12, 24, 36]}, {"LT25": Kind.long_term})
    by_month = {p.months: p for p in pulls}
    assert [p.due_on for p in pulls] == [date(2027, 1, 31), date(2027, 2, 28), date(2027, 4, 30),
                                         date(2027, 7, 31), date(2027, 10, 31), date(2028, 1, 31),
                                         date(2029, 1, 31), date(2030, 1, 31)]
    assert (by_month[0].opens_on, by_month[0].closes_on) == (date(2027, 1, 31), date(2027, 2, 7))
    assert (by_month[6].opens_on, by_month[6].closes_on) == (date(2027, 7, 24), date(2027, 8, 7))  # ±7
    assert (by_month[9].opens_on, by_month[9].closes_on) == (date(2027, 10, 17), date(2027, 11, 14))  # ±14
    assert (by_month[24].opens_on, by_month[24].closes_on) == (date(2029, 1, 17), date(2029, 2, 14))
    assert (by_month[36].opens_on, by_month[36].closes_on) == (date(2030, 1, 1), date(2030, 3, 2))  # ±30


def test_program_windows_asymmetric_and_per_kind():
    settings = {"stability": {"windows": {
        "accelerated": [{"before": 0, "after": 2}],
        "default": [{"up_to": 12, "before": 3, "after": 7}, {"before": 10, "after": 20}],
    }}}
    assert window_for(6, window_rules(settings, Kind.accelerated)) == Window(0, 2)
    assert window_for(12, window_rules(settings, Kind.long_term)) == Window(3, 7)
    assert window_for(18, window_rules(settings, Kind.long_term)) == Window(10, 20)
    assert window_for(6, window_rules({}, Kind.long_term)) == Window(7, 7)
    pulls = plan(date(2027, 3, 1), {"ACC40": [3]}, {"ACC40": Kind.accelerated}, settings)
    assert (pulls[0].opens_on, pulls[0].due_on, pulls[0].closes_on) == (
        date(2027, 6, 1), date(2027, 6, 1), date(2027, 6, 3))


def test_default_time_points_follow_ich():
    assert default_time_points(Kind.long_term, 36) == [0, 3, 6, 9, 12, 18, 24, 36]
    assert default_time_points(Kind.long_term, 60) == [0, 3, 6, 9, 12, 18, 24, 36, 48, 60]
    assert default_time_points(Kind.long_term, 30) == [0, 3, 6, 9, 12, 18, 24, 30]
    assert default_time_points(Kind.long_term, 12) == [0, 3, 6, 9, 12]
    assert default_time_points(Kind.accelerated, 36) == [0, 3, 6]
    assert default_time_points(Kind.intermediate, 36) == [0, 6, 9, 12]
    assert default_time_points(Kind.intermediate, 9) == [0, 6, 9]
