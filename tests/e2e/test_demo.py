import re
import subprocess

from tests.e2e.harness import REPO, TRANSPORTS, cmo_bot


def _demo(tmp_path, transport: str) -> str:
    workdir = tmp_path / transport
    workdir.mkdir()
    env = {"PATH": "/usr/bin:/bin", "HOME": str(workdir), "PYTHONPATH": str(REPO)}
    done = subprocess.run([*cmo_bot(), "demo", "--transport", transport], cwd=workdir, env=env,
                          capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "Traceback" not in done.stderr and list(workdir.iterdir()) == []  # nothing left behind
    return done.stdout


def test_demo_runs_with_nothing_configured_and_says_the_same_over_both_transports(tmp_path):
    heard = {transport: _demo(tmp_path, transport) for transport in TRANSPORTS}
    for out in heard.values():
        assert "conversations.create #acme-001" in out and "#acme-001 ← bot: :wave:" in out
        assert "There is no program here that you can act on" in out  # Bob (Beta's customer) cannot see Acme
        assert "*ACME-001 status — Mon 2 Nov 2026*" in out
        assert "#acme-001 ✎ bot: Batch record B-1042" in out  # the approval updated the channel post in place
        assert "*Quality agreement gate* — batch B-7 of BETA-002" in out
        assert "Stability pull window opens today" in out and "You are asked for 4 documents" in out

    def conversation(out: str) -> list[str]:
        """Every line, response URLs' one-time tags aside; sorted, since work after an ack runs in parallel."""
        return sorted(re.sub(r"response_url\[[a-z]+-\d+-[0-9a-f]+\]", "response_url", line)
                      for line in out.splitlines())

    assert conversation(heard["socket"]) == conversation(heard["http"])
