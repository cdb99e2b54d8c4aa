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
