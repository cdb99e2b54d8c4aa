"""`python -m bench.peak REPORT [--trace] ARGS…`: `cmo-bot ARGS…`, and as it exits its peak resident set (the
VmHWM line of /proc/self/status) written to REPORT; with `--trace`, also where its Python memory was when it
held the most (tracemalloc: the largest allocation sites). For `bench.memory`.

Why a wrapper and not `os.wait4`'s `ru_maxrss`: Linux carries a process's peak across `exec`, so a child
forked by a benchmark that holds a portfolio in memory reports at least the benchmark's own size. The VmHWM of
/proc/self/status belongs to the memory the process has had since its `exec`.

With `--trace`, a snapshot is taken whenever the traced memory has grown a tenth beyond the last snapshot's, so
the report describes the peak, not what is left at exit (a command frees most of what it built before it ends).
"""

from __future__ import annotations

import atexit
import sys
import threading
import tracemalloc
from collections import Counter
from pathlib import Path

FRAMES = 8
TOP = 12
GROWTH = 1.1
EVERY = 0.25  # seconds between looks at the traced size
REPO = str(Path(__file__).resolve().parents[1]) + "/"


class Peak:
    def __init__(self) -> None:
        self.size = 0
        self.snapshot: tracemalloc.Snapshot | None = None
        self.stopped = threading.Event()

    def watch(self) -> None:
        while not self.stopped.wait(EVERY):
            self.look()

    def look(self) -> None:
        current, _ = tracemalloc.get_traced_memory()
        if current > self.size * GROWTH:
            self.size, self.snapshot = current, tracemalloc.take_snapshot()

    def report(self) -> list[str]:
        self.stopped.set()
        self.look()
        _, peak = tracemalloc.get_traced_memory()
        lines = [f"traced peak {peak / 1e6:.0f} MB; at the snapshot of {self.size / 1e6:.0f} MB the largest sites "
                 "(where allocated ← the project's line that led there):"]
        if self.snapshot is not None:
            sizes: Counter[str] = Counter()
            for stat in self.snapshot.statistics("traceback"):
                sizes[site(list(stat.traceback))] += stat.size
            lines += [f"{size / 1e6:8.1f} MB  {where}" for where, size in sizes.most_common(TOP)]
        return lines


def site(frames: list[tracemalloc.Frame]) -> str:
    """The innermost frame, and the innermost one in this repository when that is another."""
    inner = frames[-1]
    ours = next((f for f in reversed(frames) if f.filename.startswith(REPO) and "/site-packages/" not in f.filename
                 and not f.filename.endswith("bench/peak.py")), None)
    shown = f"{_short(inner.filename)}:{inner.lineno}"
    return shown if ours is None or ours == inner else f"{shown} ← {_short(ours.filename)}:{ours.lineno}"


def _short(filename: str) -> str:
    return filename.removeprefix(REPO).split("/site-packages/")[-1]


def main(argv: list[str]) -> int:
    report, traced = Path(argv[0]), argv[1:2] == ["--trace"]
    args = argv[2:] if traced else argv[1:]
    peak = Peak()
    if traced:
        tracemalloc.start(FRAMES)
        threading.Thread(target=peak.watch, daemon=True, name="tracemalloc-peak").start()
    atexit.register(write, report, peak if traced else None)  # serve and socket end by SIGTERM → sys.exit: here too
    from bot.cli import main as cmo_bot

    return cmo_bot(args)


def write(report: Path, peak: Peak | None) -> None:
    status = Path("/proc/self/status").read_text()
    lines = [next(line for line in status.splitlines() if line.startswith("VmHWM:"))]
    report.write_text("\n".join(lines + (peak.report() if peak else [])) + "\n")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
