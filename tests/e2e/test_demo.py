import subprocess

from tests.e2e.harness import REPO, cmo_bot


def test_demo_runs_with_nothing_configured(tmp_path):
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "PYTHONPATH": str(REPO)}
    done = subprocess.run([*cmo_bot(), "demo"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr[-3000:]
    out = done.stdout
    assert "conversations.create #acme-001" in out and "#acme-001 ← bot: :wave:" in out
    assert "There is no program here that you can act on" in out  # Bob (Beta's customer) cannot see Acme
    assert "*ACME-001 status — Mon 2 Nov 2026*" in out
    assert "#acme-001 ✎ bot: Batch record B-1042" in out  # the approval updated the channel post in place
    assert "*Quality agreement gate* — batch B-7 of BETA-002" in out
    assert "Stability pull window opens today" in out and "You are asked for 4 documents" in out
    assert "Traceback" not in done.stderr and list(tmp_path.iterdir()) == []  # nothing left behind
