"""How people, labs and LIMS exports write a storage condition or a time point, read in one place.

Every place that reads one — `/cmo stability pulled`, results files and the results form, the new-study form,
the tracker importer — goes through here, so a notation accepted in one is accepted in all.

Conditions: a study's codes (`LT25`, custom codes such as `25/40`), their labels, and the readings labs
write: `25°C/60%RH`, `25 °C / 60 % RH`, `25C/60RH`, `25/60`, `30/65`, `30/75`, `40/75`, `5°C`, `2-8°C`,
`-20°C`, also with ICH tolerances (`25°C ± 2°C / 60% RH ± 5% RH`). A reading is matched against the labels of
a study's conditions; `30/65` is both long term (`LT30`) and intermediate (`INT30`), so where a study has both a
word decides (`30/65 intermediate`, `30/65 long term`) or the code is asked for.

Time points, in months: `6`, `6M`, `6 m`, `6 mo`, `T6`, `6 months`, and `initial` for time zero.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from store.errors import Invalid
from store.stability.schedule import ICH_BY_CODE, ICH_CONDITIONS, MAX_MONTHS, Condition

# ------------------------------------------------------------------------------------------------ conditions

_TOLERANCE = re.compile(r"±\s*\d+(?:[.,]\d+)?\s*(?:°\s*C|º\s*C|%\s*RH|%|C)?", re.IGNORECASE)
_READING = re.compile(
    r"(?P<t>-?\d+(?:\.\d+)?)(?:\s*(?:-|to)\s*(?P<t2>-?\d+(?:\.\d+)?))?\s*(?:°\s*C|º\s*C|°|deg\s*C|C)?"
    r"(?:\s*/\s*(?:RH\s*)?(?P<h>\d+(?:\.\d+)?)\s*%?\s*(?:RH)?)?(?P<rest>(?:\s+[a-z].*)?)",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class Reading:
    """Temperature and relative humidity as written (`25/60` → 25, 60), and any words after them."""

    temperature: str
    humidity: str
    words: str


def _number(text: str) -> str:
    return f"{float(text):g}"


def _plain(text: str) -> str:
    """Unicode minus and dashes to `-`, the degree sign's look-alikes unified, runs of space to one."""
    text = text.replace("\u2212", "-").replace("\u2013", "-").replace("\u2014", "-").replace("º", "°")
    return " ".join(text.split())


def reading(text: str) -> Reading | None:
    """`25°C/60%RH` → Reading('25', '60', ''); `2-8°C` → Reading('5', '', ''); None for anything else."""
    plain = _TOLERANCE.sub("", _plain(text)).strip()
    match = _READING.fullmatch(plain)
    if match is None:
        return None
    low = float(match["t"])
    temperature = _number(str((low + float(match["t2"])) / 2)) if match["t2"] else _number(match["t"])
    if match["t2"] and low < 0 <= float(match["t2"]):
        return None
    return Reading(temperature, _number(match["h"]) if match["h"] else "", match["rest"].strip().lower())


def _squeezed(text: str) -> str:
    return re.sub(r"[\s°%]", "", _plain(text)).lower()


def _worded(words: str, label: str) -> bool:
    """`int` or `intermediate` fits `30 °C / 65 % RH intermediate`; `long term` or `LT` fits long term."""
    found = reading(label)
    tail = found.words if found else label.lower()
    if not words:
        return False
    initials = "".join(w[0] for w in tail.split())
    return tail.startswith(words) or words.replace(" ", "") in (tail.replace(" ", ""), initials)


def find_condition(text: str, conditions: Sequence[Condition], field: str = "condition") -> Condition | None:
    """The condition of `conditions` that `text` names (code, label or reading); None when none does.
    Raises Invalid when a reading fits several of them and no word tells which."""
    wanted = _plain(text).strip()
    by_code = {c.code.upper(): c for c in conditions}
    for code in (wanted.upper(), wanted.upper().replace(" ", "")):
        if code in by_code:
            return by_code[code]
    for condition in conditions:
        if _squeezed(condition.label) == _squeezed(wanted):
            return condition
    found = reading(wanted)
    if found is None:
        return None
    fits = [c for c in conditions if (r := reading(c.label)) and (r.temperature, r.humidity) ==
            (found.temperature, found.humidity)]
    if len(fits) > 1:
        fits = [c for c in fits if _worded(found.words, c.label)] or fits
    if len(fits) > 1:
        raise Invalid(f"{shown(text)} is " + " and ".join(f"{c.code} ({c.label})" for c in fits)
                      + ": write the code.", field)
    return fits[0] if fits else None


def study_condition(text: str, conditions: Sequence[Condition], study: str = "the study",
                    field: str = "condition") -> Condition:
    """The study's condition `text` names, or Invalid listing the study's conditions."""
    condition = find_condition(text, conditions, field)
    if condition is None:
        listed = ", ".join(f"{c.code} ({c.label})" for c in conditions)
        raise Invalid(f"{shown(text)} is not a condition of {study}; its conditions are {listed}.", field)
    return condition


def ich_condition(text: str) -> Condition:
    """An ICH condition named without a study (the tracker importer): `30/65` alone is long term."""
    try:
        condition = find_condition(text, ICH_CONDITIONS)
    except Invalid:
        condition = ICH_BY_CODE["LT30"]
    if condition is None:
        raise Invalid(f"condition {shown(text)} is not an ICH condition (25/60, 30/65, 30/75, 40/75, 5°C, 2-8°C, "
                      "-20°C or a code such as LT25)", "conditions")
    return condition


def shown(text: str) -> str:
    return repr(_plain(text)[:30])


# ------------------------------------------------------------------------------------------------ time points

_POINT = re.compile(r"(?:T\s*)?(\d{1,4})(?:\s*(?:months?|mths?|mos?|m)(?![a-z]))?|(initial)", re.IGNORECASE)
_SEPARATORS = re.compile(r"[\s,;]*")


def _months(match: re.Match[str], field: str) -> int:
    months = 0 if match[2] else int(match[1])
    if months > MAX_MONTHS:
        raise Invalid(f"{match[0]!r} is not a time point: whole months from 0 to {MAX_MONTHS}.", field)
    return months


def parse_time_point(text: str, *, field: str = "timepoint") -> int:
    """`6`, `6M`, `6 m`, `T6`, `6 months` → 6; `initial`, `T0` → 0."""
    match = _POINT.fullmatch(_plain(str(text)).strip())
    if match is None:
        raise Invalid(f"{shown(str(text))} is not a time point: months, e.g. 6, 6M, T6 or 6 months.", field)
    return _months(match, field)


def _past_separators(text: str, position: int) -> int:
    """Where the next item starts: after any separators from `position` (the pattern matches the empty
    string, so there is always a match)."""
    found = _SEPARATORS.match(text, position)
    return found.end() if found else position


def parse_time_points(text: str, *, field: str = "timepoints") -> list[int]:
    """`0, 3M, T6, 9 months` → [0, 3, 6, 9]; each once."""
    text = _plain(text).strip()
    points: list[int] = []
    position = 0
    while position < len(text):
        position = _past_separators(text, position)
        if position >= len(text):
            break
        match = _POINT.match(text, position)
        if match is None or (match.end() < len(text) and _past_separators(text, match.end()) == match.end()):
            found = re.match(r"[^\s,;]+", text[position:])  # not a separator: those were skipped
            word = found[0] if found else text[position:]
            raise Invalid(f"{word[:10]!r} is not a time point: whole months from 0 to {MAX_MONTHS} (6, 6M, T6).",
                          field)
        points.append(_months(match, field))
        position = match.end()
    if not points:
        raise Invalid("List at least one time point in months, e.g. 0, 3, 6.", field)
    if len(set(points)) != len(points):
        raise Invalid("A time point is listed twice.", field)
    return sorted(points)


def time_points_by_condition(text: str | None, conditions: Sequence[Condition]) -> Mapping[str, list[int]]:
    """The study form's time points: a line `CONDITION: 0, 3, 6` per condition to change (the condition
    written any way `find_condition` reads); with one condition, a bare list applies to it."""
    chosen: dict[str, list[int]] = {}
    for line in (text or "").splitlines():
        if not line.strip():
            continue
        head, colon, points = line.rpartition(":")
        if not colon:
            if len(conditions) != 1:
                raise Invalid(f"With several conditions, write each line as CONDITION: 0, 3, 6 — {line[:30]!r} "
                              "names none.", "timepoints")
            condition, points = conditions[0], line
        else:
            condition = study_condition(head, conditions, "this study", "timepoints")
        if condition.code in chosen:
            raise Invalid(f"{condition.code} has two lines of time points.", "timepoints")
        chosen[condition.code] = parse_time_points(points)
    return chosen
