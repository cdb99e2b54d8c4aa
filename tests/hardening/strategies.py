"""Hypothesis strategies for hostile Slack input: the /cmo grammar, unicode, mentions, huge arguments."""

from __future__ import annotations

from hypothesis import strategies as st

from commands.areas import AREAS

VERBS = [(area.commands.name, verb.name) for area in AREAS for verb in area.commands.verbs]

NASTY = st.sampled_from([
    "<!channel>", "<!here>", "<@U123|x>", "<#C999|secret>", "<https://evil.example|click me>", "*bold* _it_ ~s~",
    "2026-02-30", "31/12/2026", "2027-13-01", "0000-00-00", "B-1042", "ACME-001", "--program", "--program BETA-002",
    "--days", "--days -5", "--days 99999999999999999999", "'", '"', "\\", "%s%s%n", "'; DROP TABLE program; --",
    "../../etc/passwd", "\x00", "\u202e", "\U0001f600", "\ufeff", "--", "---", "=", "--x=", "STB-0001", "A-1",
])
WORD = st.one_of(NASTY, st.text(min_size=1, max_size=30), st.from_regex(r"[A-Z]{2,5}-\d{1,5}", fullmatch=True))
ARGS = st.lists(WORD, max_size=6).map(" ".join)


@st.composite
def commands(draw) -> str:
    kind = draw(st.sampled_from(["known", "known", "known", "unknown_verb", "random", "huge"]))
    if kind == "huge":
        return draw(st.sampled_from([f"{a} {v}" for a, v in VERBS])) + " " + "x" * 4000
    if kind == "random":
        return draw(st.text(max_size=200))
    area, verb = draw(st.sampled_from(VERBS))
    if kind == "unknown_verb":
        verb = draw(st.text(min_size=1, max_size=20).filter(lambda v: " " not in v))
    return f"{area} {verb} {draw(ARGS)}".strip()
