"""Counters the hardening tests add to, printed as one closing line by tests/conftest.py."""

from collections import Counter

COUNTS: Counter = Counter()


def line() -> str:
    return (f"hardening: {COUNTS['fuzzed']} inputs fuzzed, {COUNTS['faults']} faults injected, "
            f"{COUNTS['lost']} lost, {COUNTS['leaked']} leaked")
