from datetime import date

import pytest

from commands.stability.commands import ResultForm, StudyForm
from store.errors import Invalid
from store.stability.schedule import ICH_BY_CODE


def _study(**kw) -> StudyForm:
    return StudyForm(**{"study": "stb-7", "product": "X", "duration": 24, "placed": date(2027, 1, 31), **kw})


def test_study_form_time_points_per_condition():
    both = [ICH_BY_CODE["LT25"], ICH_BY_CODE["ACC40"]]
    form = _study(timepoints="acc40: 0, 1, 3\n\nLT25: 0 12 24")
    assert form.study == "STB-7"
    assert form.time_points(both) == {"ACC40": [0, 1, 3], "LT25": [0, 12, 24]}
    assert _study(timepoints="40°C/75%RH: T0, 1M, 3M\n25/60: 0, 12 months, 24").time_points(both) == {
        "ACC40": [0, 1, 3], "LT25": [0, 12, 24]}
    assert _study().time_points(both) == {}
    with pytest.raises(Invalid, match="With several conditions"):
        _study(timepoints="LT25 0 3").time_points(both)
    assert _study(timepoints="0, 3M, 6M").time_points(both[1:]) == {"ACC40": [0, 3, 6]}  # one condition ticked


def test_result_form_one_typed_row_or_files():
    row = ResultForm(study="STB-0001", condition="LT25", timepoint="3", attribute="Assay", value="99,5", unit="%",
                     low="95", high="105").row()
    assert (row.study, row.condition, row.months, row.value, row.spec_low, row.spec_high) == (
        "STB-0001", "LT25", 3, 99.5, 95.0, 105.0)
    assert ResultForm(file=[{"id": "F1"}]).row() is None
    with pytest.raises(Invalid) as refused:
        ResultForm().row()
    assert refused.value.field == "file"
    with pytest.raises(Invalid) as refused:
        ResultForm(condition="LT25", timepoint="3", attribute="Assay", value="1").row()
    assert refused.value.field == "study"
