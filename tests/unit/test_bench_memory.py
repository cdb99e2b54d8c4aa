"""The memory benchmark's own arithmetic: the peak read from /proc, the target in megabytes, the trackers made
from an export, and the programs the views benchmark says a view covers."""

from __future__ import annotations

import csv
import io
import zipfile
from types import SimpleNamespace

import pytest

from bench import memory
from bench.views import DIGESTS, programs_of

STATUS = "Name:\tpython\nVmPeak:\t  900000 kB\nVmHWM:\t  195312 kB\nVmRSS:\t  120000 kB\nThreads:\t65\n"


def test_the_peak_is_the_vmhwm_line_in_kib():
    assert memory.peak_kib(STATUS) == 195_312
    with pytest.raises(ValueError):
        memory.peak_kib("Name:\tzombie\n")


def test_the_target_is_200_megabytes_not_mebibytes():
    assert memory.megabytes(195_312) == pytest.approx(199.999, abs=0.001)
    assert memory.within_target(195_312)
    assert not memory.within_target(195_313)  # 200.0005 MB (190.7 MiB)


def test_trackers_rename_what_the_importer_reads_under_other_names(tmp_path):
    sheets = {"01-summary.csv": [["item", "value"]],
              "03-agreements.csv": [["program", "kind", "effective_on", "expires_on"], ["P0000", "nda", "2026-01-01",
                                                                                        "2027-01-01"]],
              "06-batches.csv": [["program", "batch_no"], ["P0000", "B-1"]],
              "09-stability-studies.csv": [["program", "code", "conditions"],
                                           ["P0000", "STB-1", '[{"code": "LT25"}, {"code": "ACC40"}]']],
              "12-submissions.csv": [["program", "kind", "title"], ["P0000", "ctd_module3", "Filing 0"]]}
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as z:
        for name, rows in sheets.items():
            text = io.StringIO()
            csv.writer(text).writerows(rows)
            z.writestr(name, "\ufeff" + text.getvalue())
    written = memory.trackers(archive.getvalue(), tmp_path)
    assert [p.name for p in written] == ["agreements.csv", "batches.csv", "stability.csv", "submissions.csv"]
    read = {p.stem: list(csv.reader(p.open(encoding="utf-8"))) for p in written}
    assert read["agreements"][0] == ["program", "kind", "Effective date", "Expiration date"]
    assert read["stability"] == [["program", "Study", "conditions"], ["P0000", "STB-1", "LT25; ACC40"]]
    assert read["batches"] == sheets["06-batches.csv"]


def test_the_digests_cover_every_program_composed_not_the_managers():
    composed = [SimpleNamespace(program_id=i) for i in range(5_000)]
    assert programs_of(DIGESTS, composed, managed=500) == 5_000
    assert programs_of("App Home", None, managed=500) == 500
