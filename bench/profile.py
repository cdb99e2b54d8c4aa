"""Where the time goes: py-spy on a running process (sampled, every thread) and cProfile on a call, each
boiled down to the few lines a results table can carry."""

from __future__ import annotations

import cProfile
import pstats
import shutil
import signal
import subprocess
import sys
from collections import Counter
from collections.abc import Callable
from pathlib import Path

IDLE = ("_worker (concurrent/futures/thread.py", "wait (threading.py", "select (selectors.py", "Event.wait",
        "Condition.wait", "handler_thread (waitress", "run (waitress/server.py", "loop (asyncore", "_bootstrap")


OURS = ("bot", "commands", "store", "scheduler")


def py_spy() -> str | None:
    found = Path(sys.executable).with_name("py-spy")
    return str(found) if found.exists() else shutil.which("py-spy")


class Sampler:
    """`py-spy record` attached to a pid until `stop()`; `top()` then says where its threads were busy."""

    def __init__(self, pid: int, output: Path, rate: int = 100):
        self.output = output
        spy = py_spy()
        self.process = None if spy is None else subprocess.Popen(
            [spy, "record", "--pid", str(pid), "--rate", str(rate), "--format", "raw", "--output", str(output),
             "--nonblocking"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def stop(self) -> None:
        if self.process is not None:
            self.process.send_signal(signal.SIGINT)
            self.process.wait(timeout=60)

    def top(self, count: int = 12) -> list[str]:
        if self.process is None or not self.output.exists():
            return ["(py-spy not installed: `pip install -e '.[bench]'`)"]
        return summarise(self.output.read_text().splitlines(), count)


def summarise(lines: list[str], count: int) -> list[str]:
    """Share of busy samples per function, inclusive (a frame counted once per sample), project code and
    the libraries it calls; idle frames (threads waiting for work) are left out."""
    inclusive: Counter[str] = Counter()
    busy = 0
    for line in lines:
        stack, _, number = line.rpartition(" ")
        if not number.isdigit():
            continue
        frames = stack.split(";")
        if any(frames[-1].startswith(idle) or idle in frames[-1] for idle in IDLE):
            continue
        busy += int(number)
        for frame in set(frames):
            inclusive[frame] += int(number)
    interesting = [(frame, n) for frame, n in inclusive.most_common() if not frame.startswith(
        ("Thread.", "_bootstrap", "<module>", "run (", "_WorkItem", "_worker", "main (", "serve (")) and "(" in frame]
    ours = [(frame, n) for frame, n in interesting if any(f"({part}/" in frame for part in OURS)]
    if not busy:
        return []
    return ([f"{100 * n / busy:5.1f}%  {frame}" for frame, n in interesting[:count]]
            + ["", "… of which in the bot's own code:"]
            + [f"{100 * n / busy:5.1f}%  {frame}" for frame, n in ours[: 2 * count]])


def profiled(call: Callable[[], object], count: int = 12, where: tuple[str, ...] = ("/wt-", "/main/", "sqlalchemy")
             ) -> tuple[object, list[str]]:
    """Run `call` under cProfile; the functions with the most cumulative time among `where`."""
    profiler = cProfile.Profile()
    result = profiler.runcall(call)
    stats = pstats.Stats(profiler)
    total = max(stats.total_tt, 1e-9)  # type: ignore[attr-defined]
    rows = []
    for (filename, line, name), (_, _, _, cumulative, _) in stats.stats.items():  # type: ignore[attr-defined]
        if any(part in filename for part in where):
            short = filename.split("site-packages/")[-1].split("/wt-bench/")[-1]
            if short.startswith("bench/"):
                continue
            rows.append((cumulative, f"{short}:{line}({name})"))
    rows.sort(reverse=True)
    return result, [f"{100 * c / total:5.1f}%  {c:6.2f} s  {label}" for c, label in rows[:count]]
