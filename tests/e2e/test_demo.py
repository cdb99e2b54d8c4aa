import re
import subprocess

from tests.e2e.harness import REPO, TRANSPORTS, cmo_bot


def _demo(tmp_path, transport: str, *extra: str) -> str:
    workdir = tmp_path / (transport + "".join(extra))
    workdir.mkdir()
    env = {"PATH": "/usr/bin:/bin", "HOME": str(workdir), "PYTHONPATH": str(REPO)}
    done = subprocess.run([*cmo_bot(), "demo", "--transport", transport, *extra], cwd=workdir, env=env,
                          capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "Traceback" not in done.stderr and list(workdir.iterdir()) == []  # nothing left behind
    return done.stdout


def _message(out: str, head: str, containing: str) -> str:
    """The whole message (its head line and indented body) that starts with `head` and contains `containing`."""
    for found in re.finditer(rf"^{re.escape(head)}.*\n((?:    .*\n)*)", out, re.MULTILINE):
        if containing in found.group(0):
            return found.group(0)
    raise AssertionError(f"no message {head!r} with {containing!r} in:\n{out}")


def test_demo_reads_as_a_conversation_and_says_the_same_over_both_transports(tmp_path):
    heard = {transport: _demo(tmp_path, transport) for transport in TRANSPORTS}
    for out in heard.values():
        # people and channels by name, mrkdwn rendered, no API names or raw ids
        assert not re.search(r"<[@#!][A-Z0-9]", out) and "U0ALI>" not in out and "C0GENERAL" not in out
        assert not re.search(r"views\.(open|update|publish)|response_url|chat\.\w+|conversations\.\w+", out)
        assert "*ACME-001 status" not in out and "ACME-001 status — Mon 2 Nov 2026" in out  # bold, not *stars*
        assert ":wave:" not in out and "👋 This is the channel of ACME-001" in out
        assert "bot invites @Alice Approver (Acme)" in out and "bot creates #acme-001" in out
        # what a person typed or filled in comes before the bot's answer
        typed = out.index("▸ @Pat Manager types in #acme-001:  /cmo agreement list")
        filled = out.index("▸ @Pat Manager fills in “Log agreement” and submits it:\n    kind: quality")
        assert filled < out.index("logged Quality Agreement QA-1") < typed < out.index("Days left")
        assert "Bob works for Beta" in out and "There is no program here that you can act on" in out
        # the expiring agreement: in the register, then reminded on the day
        assert re.search(r"QA-1 +Quality Agreement +QA v3 +Executed +2025-01-15 +2027-01-31 +90\n", out)
        assert "expires on Sun 31 Jan 2027 (90 days from Mon 2 Nov 2026)" in out
        # the CMO's QA release comes first; then the approval updates the DM and the channel post in place
        released = out.index("clicks [QA release] in DM with @Quinn Quality")
        approved = out.index("clicks [Approve] in DM with @Alice Approver (Acme)")
        assert released < approved
        for place in ("#acme-001", "DM with @Alice Approver (Acme)"):
            updated = _message(out[approved:], f"{place} ✎ bot updates its message in place:", "B-1042")
            assert "✅ Approved by Alice Approver" in updated and "Days in review" in updated  # whole, not cut
        # the month-end pull clamps: placed 31 August, the 3-month pull on 30 November; the table is whole
        schedule = _message(out, "#acme-001 — bot, seen only by @Sam Stability:", "STB-0001")
        assert re.search(r"LT25 +3 m +2026-11-30", schedule) and re.search(r"LT25 +18 m +2028-02-29", schedule)
        assert len(re.findall(r"^    (LT25|ACC40) ", schedule, re.MULTILINE)) == 10
        # the clock jump is explained, and the late reminder says so
        assert "as if the bot had been off" in out and "Late: this was due on Thu 5 Nov 2026" in out
        assert "Quality agreement gate — batch B-7 of BETA-002" in out
        assert "Stability pull window opens today" in out and "You are asked for 4 documents" in out
        assert "•••••• (the code their authenticator app shows)" in out  # one-time codes are not printed

    def conversation(out: str) -> list[str]:
        """Every line, sorted, since work after an ack runs in parallel (the order within a step may differ)."""
        return sorted(out.splitlines())

    assert conversation(heard["socket"]) == conversation(heard["http"])


def test_quiet_demo_prints_the_headings_only(tmp_path):
    out = _demo(tmp_path, "http", "--quiet")
    lines = [line for line in out.splitlines() if line]
    assert lines[0].startswith("cmo-bot demo:") and lines[-1].startswith("That was the bot end to end")
    assert all(line.startswith("━━ ") for line in lines[1:-1]) and len(lines) == 9
    assert ("━━ Batch record review: ready → the CMO's signed QA release → the customer's signed approval, messages "
            "updated in place") in lines
