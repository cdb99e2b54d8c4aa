from datetime import date

import pytest

from store.calendar import add_business_days, business_days_between, holiday_name, is_business_day
from store.errors import Invalid
from store.filing import file_document, safe_name


def test_business_days_skip_weekends_and_holidays():
    thanksgiving = date(2026, 11, 26)  # a Thursday
    assert holiday_name(thanksgiving, "US") == "Thanksgiving Day"
    assert not is_business_day(thanksgiving, "US") and is_business_day(thanksgiving, "GB")
    # Wed 25 Nov + 3 business days in the US: Fri 27, Mon 30, Tue 1 Dec
    assert add_business_days(date(2026, 11, 25), 3, "US") == date(2026, 12, 1)
    assert add_business_days(date(2026, 11, 25), 3, "") == date(2026, 11, 30)
    assert add_business_days(date(2026, 12, 1), -3, "US") == date(2026, 11, 25)
    assert business_days_between(date(2026, 11, 25), date(2026, 12, 1), "US") == 3
    assert business_days_between(date(2026, 12, 1), date(2026, 11, 25), "US") == -3


def test_regional_holiday():
    epiphany = date(2027, 1, 6)
    assert not is_business_day(epiphany, "DE-BY") and is_business_day(epiphany, "DE-HH")


@pytest.mark.parametrize(("hostile", "expected"), [
    ("../../etc/passwd", "passwd"),
    ("/abs/path/QA v3.pdf", "QA v3.pdf"),
    ("..\\..\\win.ini", "win.ini"),
    ("evil\x00\n.pdf", "evil.pdf"),
    ("..", "document"),
    ("", "document"),
])
def test_safe_names(hostile, expected):
    assert safe_name(hostile) == expected


def test_filing_never_overwrites_and_stays_inside_root(files):
    first = file_document(files, "ACME-001", "agreements", name="../QA.pdf", content=b"one")
    second = file_document(files, "ACME-001", "agreements", name="QA.pdf", content=b"two")
    assert str(first.path) == "ACME-001/agreements/QA.pdf" and str(second.path) == "ACME-001/agreements/QA-2.pdf"
    assert files.get(str(first.path)) == b"one" and files.get(str(second.path)) == b"two"
    assert first.sha256 == "7692c3ad3540bb803c020b3aee66cd8887123234ea0c6e7143c0add73ff431ed"
    with pytest.raises(Invalid):
        file_document(files, "..", name="x", content=b"")


def test_england_needs_its_region_for_easter_monday_and_the_august_bank_holiday():
    easter_monday, august_bank_holiday = date(2027, 3, 29), date(2027, 8, 30)  # both Mondays
    assert is_business_day(easter_monday, "GB") and is_business_day(august_bank_holiday, "GB")  # the trap
    assert not is_business_day(easter_monday, "GB-ENG") and not is_business_day(august_bank_holiday, "GB-ENG")
    assert is_business_day(august_bank_holiday, "GB-SCT")  # Scotland's summer bank holiday is in early August
    # Good Friday 26 Mar 2027 + 1 business day in England: not Easter Monday, Tuesday 30 March
    assert add_business_days(date(2027, 3, 25), 1, "GB-ENG") == date(2027, 3, 30)


def test_holiday_calendar_names_the_region_and_refuses_a_bare_regional_country():
    from store import holiday_calendars

    with pytest.raises(Invalid, match=r"United Kingdom: public holidays differ by region.*GB-ENG \(England\)") as bare:
        holiday_calendars.validate("GB")
    assert bare.value.field == "holidays"
    with pytest.raises(Invalid, match="DE-BY"):
        holiday_calendars.validate("de")
    assert holiday_calendars.validate(" gb-eng ") == "GB-ENG"
    assert holiday_calendars.validate("US") == "US" and holiday_calendars.validate("US-NJ") == "US-NJ"
    assert holiday_calendars.label("GB-ENG") == "England, United Kingdom (GB-ENG)"
    groups = dict(holiday_calendars.choices())
    assert ("GB-ENG", "England (GB-ENG)") in groups["United Kingdom"]
    assert "GB" not in [value for value, _ in groups["United Kingdom"]]
    assert ("US", "United States (US)") in groups["United States"] and ("US-NJ", "New Jersey (US-NJ)") in \
        groups["United States"]
    assert all(len(options) <= 100 for options in groups.values()) and len(groups) <= 100
