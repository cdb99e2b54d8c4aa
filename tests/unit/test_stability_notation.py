"""Stability notations as labs, LIMS exports and people type them: one parser for conditions and time points."""

import pytest

from store.errors import Invalid
from store.stability.notation import (
    ich_condition,
    parse_time_point,
    parse_time_points,
    study_condition,
    time_points_by_condition,
)
from store.stability.schedule import ICH_BY_CODE, Condition, Kind

ALL_ICH = list(ICH_BY_CODE.values())
CUSTOM = Condition("25/40", "25 °C / 40 % RH semi-permeable", Kind.long_term)
PHOTO = Condition("PHOTO", "Photostability (ICH Q1B)", Kind.long_term)
STUDY = [ICH_BY_CODE[c] for c in ("LT25", "INT30", "ACC40", "REF5", "FRZ20")] + [CUSTOM, PHOTO]


@pytest.mark.parametrize(("typed", "code"), [
    ("LT25", "LT25"), ("lt25", "LT25"), (" LT 25 ", "LT25"), ("ACC40", "ACC40"),
    ("25 °C / 60 % RH long term", "LT25"),            # the label the bot itself shows
    ("25°C/60%RH", "LT25"), ("25 °C / 60 % RH", "LT25"), ("25C/60RH", "LT25"), ("25c/60rh", "LT25"),
    ("25/60", "LT25"), ("25°C / 60%", "LT25"), ("25.0/60", "LT25"),
    ("25°C ± 2°C / 60% RH ± 5% RH", "LT25"),          # ICH Q1A(R2)'s own notation, tolerances and all
    ("25ºC/60%RH", "LT25"),                           # the ordinal sign some keyboards give for a degree
    ("30/65", "INT30"),                               # the study has only the intermediate one at 30/65
    ("30°C/65%RH", "INT30"),
    ("40/75", "ACC40"), ("40°C/75%RH", "ACC40"), ("40C/75RH", "ACC40"),
    ("5°C", "REF5"), ("5C", "REF5"), ("5 °C", "REF5"), ("2-8°C", "REF5"), ("2–8 °C", "REF5"), ("2 to 8 C", "REF5"),
    ("-20°C", "FRZ20"), ("−20 °C", "FRZ20"), ("-20C", "FRZ20"),
    ("25/40", "25/40"),                                # a custom code that reads like a condition
    ("25°C/40%RH", "25/40"),                           # …and its reading
    ("photo", "PHOTO"), ("Photostability (ICH Q1B)", "PHOTO"),
])
def test_a_study_condition_as_people_write_it(typed, code):
    assert study_condition(typed, STUDY, "STB-0001").code == code


@pytest.mark.parametrize(("typed", "code"), [
    ("30/65", "LT30"), ("30/65 intermediate", "INT30"), ("30/65 int", "INT30"), ("30°C/65%RH long term", "LT30"),
    ("30/65 LT", "LT30"), ("30/75", "IVB30"), ("30°C/75%RH", "IVB30"), ("25/60", "LT25"), ("40/75", "ACC40"),
    ("5°C", "REF5"), ("2-8°C", "REF5"), ("-20°C", "FRZ20"), ("INT30", "INT30"),
])
def test_an_ich_condition_without_a_study(typed, code):
    assert ich_condition(typed).code == code


def test_30_65_in_a_study_with_both_asks_for_the_code():
    with pytest.raises(Invalid, match="LT30 .* and INT30 .*write the code"):
        study_condition("30/65", ALL_ICH)
    assert study_condition("30/65 intermediate", ALL_ICH).code == "INT30"
    assert study_condition("30 °C / 65 % RH long term", ALL_ICH).code == "LT30"


@pytest.mark.parametrize("typed", ["30/75", "37°C/80%RH", "LT30", "ambient", "", "25/"])
def test_a_condition_the_study_does_not_have_names_the_ones_it_has(typed):
    with pytest.raises(Invalid, match="not a condition of STB-0001; its conditions are LT25 .*INT30"):
        study_condition(typed, STUDY, "STB-0001")


def test_an_unknown_ich_reading_is_refused():
    with pytest.raises(Invalid, match="'37°C/80%RH' is not an ICH condition"):
        ich_condition("37°C/80%RH")


@pytest.mark.parametrize(("typed", "months"), [
    ("6", 6), ("6M", 6), ("6m", 6), ("6 m", 6), ("6 M", 6), ("T6", 6), ("t6", 6), ("T 6", 6), ("6 months", 6),
    ("6 Months", 6), ("1 month", 1), ("6 mo", 6), ("6mos", 6), ("6 mths", 6), (" 12M ", 12), ("T0", 0), ("0", 0),
    ("initial", 0), ("Initial", 0), ("120", 120),
])
def test_a_time_point_as_labs_write_it(typed, months):
    assert parse_time_point(typed) == months


@pytest.mark.parametrize("typed", ["", "six", "6 weeks", "6mg", "-1", "121", "6.5", "M6", "T", "6 6"])
def test_what_is_not_a_time_point(typed):
    with pytest.raises(Invalid):
        parse_time_point(typed)


@pytest.mark.parametrize(("typed", "points"), [
    ("0, 3 6;12", [0, 3, 6, 12]), ("0, 3M, 6M, 9M, 12M", [0, 3, 6, 9, 12]), ("T0, T3, T6", [0, 3, 6]),
    ("0 3 6 months", [0, 3, 6]), ("initial, 3 months, 6 months", [0, 3, 6]), ("12, 0, 6", [0, 6, 12]),
])
def test_time_point_lists(typed, points):
    assert parse_time_points(typed) == points


@pytest.mark.parametrize("typed", ["", "3, x", "3, 3", "3M, T3", "-1", "500", "3, 6 weeks"])
def test_bad_time_point_lists(typed):
    with pytest.raises(Invalid) as caught:
        parse_time_points(typed)
    assert caught.value.field == "timepoints"


def test_the_study_forms_time_points():
    lt25, acc40 = ICH_BY_CODE["LT25"], ICH_BY_CODE["ACC40"]
    assert time_points_by_condition("0, 3M, 6M", [acc40]) == {"ACC40": [0, 3, 6]}  # one condition: a bare list
    assert time_points_by_condition("25/60: 0, 3, 6\n\n40°C/75%RH: T0, T1, T3", [lt25, acc40]) == {
        "LT25": [0, 3, 6], "ACC40": [0, 1, 3]}
    assert time_points_by_condition("acc40: 0, 1", [lt25, acc40]) == {"ACC40": [0, 1]}
    assert time_points_by_condition(None, [lt25]) == {}
    for typed, message in (("0, 3, 6", "With several conditions"), ("30/65: 0, 6", "not a condition of this study"),
                           ("LT25: 0, 3\n25/60: 6", "LT25 has two lines")):
        with pytest.raises(Invalid, match=message) as caught:
            time_points_by_condition(typed, [lt25, acc40])
        assert caught.value.field == "timepoints"
