import io
from datetime import UTC, date, datetime

import pytest
from openpyxl import Workbook, load_workbook
from pypdf import PdfReader
from sqlmodel import select

from store.audit import AuditEntry
from store.errors import Invalid
from store.stability import results as stability_results
from store.stability import results_file as stability_import
from store.stability import service as stability
from store.stability.report import compile_package, pdf, workbook
from store.stability.stats import evaluate, t_quantile
from tests import factories
from tests.stability_factories import study as make_study

NOW = datetime(2029, 2, 10, 15, tzinfo=UTC)
ASSAY = [(0, 100.1), (3, 99.6), (6, 99.2), (9, 98.7), (12, 98.1), (18, 97.4)]
# Where the two-sided 95 % lower limit of ASSAY meets 95 %: t(0.975, 4) = 2.7764, s = 0.084092 (from
# the residuals), solved for ŷ(t) − t·s·√(1/6 + (t−8)²/210) = 95; checked against statsmodels in test_q1e.py.
TWO_SIDED_CROSSING = 30.71


def test_t_quantiles_match_the_tables():
    for df, expected in ((1, 6.3138), (2, 2.9200), (4, 2.1318), (10, 1.8125), (30, 1.6973)):
        assert t_quantile(0.95, df) == pytest.approx(expected, abs=5e-4)


def test_regression_by_hand():
    reg = evaluate(ASSAY, 95.0, None, horizon=60)  # a lower limit only: the assay is known to fall
    # OLS by hand: t̄ = 8, Sxx = 210, Sxy = -32.1 → slope -0.152857, intercept 100.072857
    assert reg.slope == pytest.approx(-32.1 / 210)
    assert reg.intercept == pytest.approx(593.1 / 6 + 32.1 / 210 * 8, abs=1e-9)  # ȳ = 98.85
    assert reg.side == "lower" and reg.limit == 95.0
    # the lower bound at the crossing equals the limit, and is above it just before
    assert reg.bound(reg.crossing) == pytest.approx(95.0, abs=2e-3)
    assert reg.bound(reg.crossing - 0.05) > 95.0
    assert reg.crossing == pytest.approx(31.25, abs=0.01)
    assert evaluate(ASSAY[:2], 95.0, None, 60) is None
    rising = evaluate([(0, 0.1), (3, 0.15), (6, 0.22), (9, 0.26)], None, 0.5, 60)
    assert rising.side == "upper" and rising.crossing is not None and rising.bound(rising.crossing) >= 0.5 - 1e-3


def _csv(text: str) -> bytes:
    return text.encode("utf-8")


def _pulled(session, program, study, *keys):
    for condition, months in keys:
        pull = stability.find_pull(session, study, condition, months)
        stability.record_pull(session, program=program, pull=pull, actor=factories.ADMIN, now=NOW,
                              pulled_on=pull.due_on)


def test_import_reports_bad_rows_and_keeps_good_ones(session):
    program = factories.program(session, NOW)
    study = make_study(session, program, datetime(2027, 1, 20, tzinfo=UTC))
    _pulled(session, program, study, ("LT25", 0), ("LT25", 3), ("ACC40", 3))
    content = _csv(
        "Study,Condition,Time point,Attribute,Value,Unit,Lower limit,Upper limit\n"
        "STB-0001,LT25,0,Assay,100.1,%,95,105\n"          # 2 ok
        "STB-0001,LT25,3,Assay,99.6,%,95,105\n"           # 3 ok
        "STB-0009,LT25,3,Assay,99.6,%,95,105\n"           # 4 unknown study
        "STB-0001,LT25,3,Assay,99.7,%,95,105\n"           # 5 duplicate time point
        "STB-0001,LT25,3,Water,1.2,mg,,3\n"               # 6 ok
        "STB-0001,ACC40,3,Water,1.4,%,,3\n"               # 7 unit mismatch (mg before)
        "STB-0001,LT25,6,Assay,99.2,%,95,105\n"           # 8 not pulled yet
        "STB-0001,LT25,abc,Assay,99.2,%,95,105\n"         # 9 not a time point
        "STB-0001,ACC40,3,Assay,93.0,%,95,105\n"          # 10 ok, out of specification
        "STB-0001,XX9,3,Assay,93.0,%,95,105\n"            # 11 no such condition
    )
    rows, unreadable = stability_import.read("results.csv", content)
    report = stability_results.import_results(session, program=program, actor=factories.ADMIN, now=NOW, rows=rows,
                                       rejected=unreadable)
    assert [(r.attribute, r.value) for r in report.accepted] == [("Assay", 100.1), ("Assay", 99.6),
                                                                ("Water", 1.2), ("Assay", 93.0)]
    reasons = dict(report.rejected)
    assert sorted(reasons) == [4, 5, 7, 9, 11]
    assert "unknown study" in reasons[4]
    assert "duplicate" in reasons[5]
    assert "unit" in reasons[7]
    assert [(study.code, pull.condition, pull.months) for study, pull in report.missing] == [("STB-0001", "LT25", 6)]
    assert list(report.waiting.values()) == [[8]]  # the 6-month pull is not recorded: row 8 waits for it
    assert "time point" in reasons[9]
    assert "'XX9' is not a condition of STB-0001; its conditions are LT25" in reasons[11]
    assert [r.value for r in report.out_of_spec] == [93.0]
    actions = [a.action for a in session.exec(select(AuditEntry).where(AuditEntry.entity == "stability_result"))]
    assert actions.count("result_out_of_spec") == 1 and actions.count("result_recorded") == 3


def test_a_lims_export_with_its_own_notations_imports(session):
    program = factories.program(session, NOW)
    study = make_study(session, program, datetime(2027, 1, 20, tzinfo=UTC))
    _pulled(session, program, study, ("25/60", 0), ("25°C/60%RH", 3), ("40°C/75%RH", 3), ("ACC40", 6))
    content = _csv(
        "Study,Storage Condition,Time Point,Test,Result,Unit,LSL,USL\n"
        "STB-0001,25°C/60%RH,T0,Assay,100.1,%,95,105\n"
        "STB-0001,25C/60RH,3M,Assay,99.6,%,95,105\n"
        "STB-0001,40/75,3 months,Assay,99.0,%,95,105\n"
        "STB-0001,40 °C / 75 % RH,6 m,Assay,98.4,%,95,105\n"
        "STB-0001,30/65,6,Assay,98.4,%,95,105\n"
        "STB-0001,25/60,6 weeks,Assay,98.4,%,95,105\n"
    )
    rows, unreadable = stability_import.read("lims-export.csv", content)
    report = stability_results.import_results(session, program=program, actor=factories.ADMIN, now=NOW, rows=rows,
                                       rejected=unreadable)
    pulls = {p.id: (p.condition, p.months) for p in stability.pulls_of(session, study.id)}
    assert [pulls[r.pull_id] for r in report.accepted] == [("LT25", 0), ("LT25", 3), ("ACC40", 3), ("ACC40", 6)]
    reasons = dict(report.rejected)
    assert "'30/65' is not a condition of STB-0001" in reasons[6]
    assert "'6 weeks' is not a time point" in reasons[7]


def test_import_xlsx_and_bad_files():
    book = Workbook()
    book.active.append(["condition", "months", "attribute", "result", "units", "LSL", "USL"])
    book.active.append(["LT25", 3, "Assay", 99.5, "%", 95, 105])
    out = io.BytesIO()
    book.save(out)
    rows, rejected = stability_import.read("r.xlsx", out.getvalue(), study="STB-0001")
    assert rows[0].study == "STB-0001" and rows[0].months == 3 and rows[0].spec_high == 105 and not rejected
    with pytest.raises(Invalid):
        stability_import.read("r.pdf", b"%PDF")
    with pytest.raises(Invalid):
        stability_import.read("r.xlsx", b"not a workbook")
    with pytest.raises(Invalid, match="no column for study"):
        stability_import.read("r.csv", _csv("condition,months,attribute,value\nLT25,3,Assay,1\n"))


def test_report_workbook_and_pdf_hold_the_numbers(session):
    program = factories.program(session, NOW)
    study = make_study(session, program, datetime(2027, 1, 20, tzinfo=UTC),
                       time_points={"LT25": [0, 3, 6, 9, 12, 18, 24], "ACC40": [0, 3, 6]})
    _pulled(session, program, study, *[("LT25", m) for m, _ in ASSAY], ("ACC40", 0), ("ACC40", 3))
    rows = [stability_results.ResultRow(i, "STB-0001", "LT25", m, "Assay", v, "%", 95, 105)
            for i, (m, v) in enumerate(ASSAY)]
    rows += [stability_results.ResultRow(10, "STB-0001", "ACC40", 0, "Assay", 100.1, "%", 95, 105),
             stability_results.ResultRow(11, "STB-0001", "ACC40", 3, "Assay", 98.2, "%", 95, 105)]
    stability_results.import_results(session, program=program, actor=factories.ADMIN, now=NOW, rows=rows)
    package = compile_package(study, stability.results_of(session, study.id), NOW)

    book = load_workbook(io.BytesIO(workbook(package)))
    assert book.sheetnames == ["Study", "ACC40", "LT25", "ICH Q1E"]
    lt = book["LT25"]
    assert [c.value for c in lt[2]] == ["Attribute", "Lot", "Unit", "Lower limit", "Upper limit", "0 m", "3 m",
                                        "6 m", "9 m", "12 m", "18 m"]
    assert [c.value for c in lt[3]] == ["Assay", None, "%", 95, 105, 100.1, 99.6, 99.2, 98.7, 98.1, 97.4]
    assert [c.value for c in book["ACC40"][3]][5:] == [100.1, 98.2]
    q1e = [c.value for c in book["ICH Q1E"][2]]
    # one batch (no lot named): no poolability test, the batch's own line
    assert q1e[:5] == ["LT25", "Assay", "single batch", None, None]
    assert q1e[6] == 6 and q1e[7] == pytest.approx(-0.152857, abs=1e-6)
    # 95–105 %: two-sided 95 % limits (Q1E Appendix B), earlier than the one-sided 31.25 months
    assert q1e[11] == "two-sided 95 %" and q1e[12] == 95
    assert q1e[13] == pytest.approx(TWO_SIDED_CROSSING, abs=0.01)
    assert q1e[14:] == ["yes", "room temperature", 30, 30]

    text = " ".join(" ".join(page.extract_text().split()) for page in PdfReader(io.BytesIO(pdf(package))).pages)
    assert "Stability data package" in text and "STB-0001" in text
    for number in ("100.1", "99.6", "97.4", "98.2", "95–105"):
        assert number in text
    assert f"meet the limit 95 at {TWO_SIDED_CROSSING:.2f} months" in text
    assert "beyond the ICH Q1E extrapolation limit of 30 months for room temperature storage" in text
    assert "slope = -0.1529" in text
    assert date(2027, 1, 31).isoformat() in text
