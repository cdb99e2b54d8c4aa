"""The holiday calendars a program can choose, named as a site manager knows them.

Why a region is required in some countries: public holidays there are set by the region, and the country's
national list leaves out days the site is closed. The `holidays` library's `GB` has no Easter Monday and no
August bank holiday (both are England's and Wales's, not the United Kingdom's), so a site in England on `GB`
would get reminders and count SLA days on days it is closed. Those countries take a region (`GB-ENG`,
`DE-BY`); in the United States the federal list (`US`) is what most sites keep, and a state (`US-NJ`) adds
its own days; elsewhere the country code alone.
"""

from __future__ import annotations

from functools import cache

import holidays as holiday_lib

from store.errors import Invalid

# Countries where contract manufacturing sites are common, by the name people know them under.
COUNTRIES = {
    "US": "United States", "GB": "United Kingdom", "DE": "Germany", "CH": "Switzerland", "AT": "Austria",
    "ES": "Spain", "CA": "Canada", "AU": "Australia", "IN": "India", "IE": "Ireland", "FR": "France",
    "IT": "Italy", "NL": "Netherlands", "BE": "Belgium", "DK": "Denmark", "SE": "Sweden", "PL": "Poland",
    "PT": "Portugal", "CZ": "Czechia", "HU": "Hungary", "SI": "Slovenia", "PR": "Puerto Rico", "MX": "Mexico",
    "BR": "Brazil", "IL": "Israel", "SG": "Singapore", "JP": "Japan", "KR": "South Korea", "CN": "China",
}
# Countries whose public holidays differ by region: the region must be named.
REGIONAL = frozenset({"GB", "DE", "CH", "AT", "ES", "CA", "AU", "IN"})
# Countries offered both ways: the national list, or a region's.
REGIONS_OPTIONAL = frozenset({"US"})


@cache
def regions(country: str) -> dict[str, str]:
    """Subdivision code → its name (the library's first alias), for a country the library knows."""
    calendar = holiday_lib.country_holidays(country)
    names: dict[str, str] = {}
    for name, code in getattr(calendar, "subdivisions_aliases", {}).items():
        names.setdefault(code, name)
    return {code: names.get(code, code) for code in calendar.subdivisions}


def label(calendar: str) -> str:
    """`GB-ENG` → "England, United Kingdom (GB-ENG)"; "" → "weekends only"."""
    if not calendar:
        return "weekends only"
    country, _, region = calendar.partition("-")
    place = COUNTRIES.get(country, country)
    if region:
        place = f"{regions(country).get(region, region)}, {place}"
    return f"{place} ({calendar})"


def choices() -> list[tuple[str, list[tuple[str, str]]]]:
    """Option groups for the program form: per country, its regions where they matter, else the country."""
    groups = []
    for country, name in COUNTRIES.items():
        options = [] if country in REGIONAL else [(country, f"{name} ({country})")]
        if country in REGIONAL | REGIONS_OPTIONAL:
            options += [(f"{country}-{code}", f"{region} ({country}-{code})")
                        for code, region in sorted(regions(country).items(), key=lambda item: item[1])]
        groups.append((name, options))
    return groups


def validate(calendar: str) -> str:
    """A country code with a subdivision where holidays are regional (`GB-ENG`, `DE-BY`), else the country."""
    calendar = calendar.strip().upper()
    if not calendar:
        return ""
    country, _, region = calendar.partition("-")
    supported = holiday_lib.list_supported_countries()
    if country not in supported or (region and region not in supported[country]):
        raise Invalid(f"{calendar[:20]!r} is not a holiday calendar; use a country code with the site's region "
                      "where holidays are regional, such as GB-ENG, DE-BY or US-NJ.", "holidays")
    if country in REGIONAL and not region:
        examples = ", ".join(f"{country}-{code} ({name})" for code, name in list(regions(country).items())[:4])
        raise Invalid(f"{COUNTRIES[country]}: public holidays differ by region; name the site's, e.g. {examples}.",
                      "holidays")
    return calendar
