"""The timeline plot: results against the threshold bands, doses as ticks, described in words."""

from __future__ import annotations

import subprocess
import sys
import xml.etree.ElementTree as ET
from datetime import UTC, date, datetime, timedelta

import pytest

from b12.adapters.plot import timeline_png, timeline_svg
from b12.domain.analytes import Analyte
from b12.domain.case import Route
from b12.domain.guidelines.thresholds import ThresholdSet, load_threshold_set
from b12.domain.regimen import Product
from b12.domain.tracking import DoseGiven, LabEntry

SVG = "{http://www.w3.org/2000/svg}"


@pytest.fixture(scope="module")
def nice() -> ThresholdSet:
    return load_threshold_set("nice-ng239")


def _lab(day: date, value: float, unit: str = "ng/L", analyte: Analyte = Analyte.B12_TOTAL) -> LabEntry:
    normalised = {"pmol/L": value / 0.738, "g/dL": value * 10}.get(unit, value)
    normalised_unit = {"pmol/L": "ng/L", "g/dL": "g/L"}.get(unit, unit)
    return LabEntry(f"lab-{day}-{analyte}", "patient-1", day, analyte, value, unit, normalised, normalised_unit)


def _dose(day: date) -> DoseGiven:
    return DoseGiven(
        id=f"dose-{day}",
        course_id="course-1",
        at=datetime(day.year, day.month, day.day, 10, tzinfo=UTC),
        dose_mg=1.0,
        product=Product.HYDROXOCOBALAMIN,
        route=Route.IM,
        given_by="practice nurse",
    )


LOADING = [_dose(date(2025, 1, 6) + timedelta(days=d)) for d in (0, 2, 4, 7, 9, 11)]
RESULTS = [_lab(date(2025, 1, 2), 150), _lab(date(2025, 3, 20), 260), _lab(date(2025, 6, 30), 410)]


def _root(svg: str) -> ET.Element:
    return ET.fromstring(svg.encode())


def _group(root: ET.Element, gid: str) -> ET.Element | None:
    return next((g for g in root.iter(f"{SVG}g") if g.get("id") == gid), None)


def _markers(root: ET.Element, gid: str) -> int:
    group = _group(root, gid)
    return 0 if group is None else len(list(group.iter(f"{SVG}use")))


def _texts(root: ET.Element) -> list[str]:
    return [text.text or "" for text in root.iter(f"{SVG}text")]


def _desc(root: ET.Element) -> str:
    desc = root.find(f"{SVG}desc")
    assert desc is not None
    return desc.text or ""


def test_every_band_is_drawn_with_its_own_label(nice: ThresholdSet) -> None:
    texts = _texts(_root(timeline_svg(RESULTS, LOADING, nice)))
    for label in ("Deficiency confirmed", "Indeterminate – possible deficiency", "Deficiency unlikely"):
        assert any(text.startswith(label) for text in texts), label
    assert "Deficiency confirmed (<180)" in texts
    assert "Indeterminate – possible deficiency (180–350)" in texts


def test_there_is_one_marker_per_result(nice: ThresholdSet) -> None:
    root = _root(timeline_svg(RESULTS, LOADING, nice))
    assert _markers(root, "b12-results") + _markers(root, "b12-results-recent-injection") == 3
    assert "3 results of total B12 in ng/L" in _desc(root)


def test_each_dose_given_is_a_tick(nice: ThresholdSet) -> None:
    group = _group(_root(timeline_svg(RESULTS, LOADING, nice)), "b12-doses")
    assert group is not None
    assert len(list(group.iter(f"{SVG}path"))) == len(LOADING)


def test_title_and_desc_describe_the_data_for_a_screen_reader(nice: ThresholdSet) -> None:
    root = _root(timeline_svg(RESULTS, LOADING, nice))
    title = root.find(f"{SVG}title")
    assert title is not None
    assert (
        title.text
        == "Total B12 over time against the NICE NG239 (March 2024), vitamin B12 deficiency in over 16s bands"
    )
    assert root.get("role") == "img"
    assert root.get("aria-labelledby") == "b12-b12_total-title b12-b12_total-desc"
    desc = _desc(root)
    assert "below 180 ng/L: Deficiency confirmed; from 180 to 350 ng/L: Indeterminate – possible deficiency" in desc
    assert "150 ng/L on 2025-01-02 (Deficiency confirmed)" in desc
    assert "260 ng/L on 2025-03-20 (Indeterminate – possible deficiency)" in desc
    assert "6 doses given from 2025-01-06 to 2025-01-17" in desc


def test_a_result_in_another_unit_is_converted_to_the_unit_of_most_results(nice: ThresholdSet) -> None:
    labs = [*RESULTS, _lab(date(2025, 7, 1), 300, "pmol/L")]
    root = _root(timeline_svg(labs, LOADING, nice))
    desc = _desc(root)
    assert "4 results of total B12 in ng/L" in desc
    assert "(reported as 300 pmol/L; Deficiency unlikely)" in desc
    assert _markers(root, "b12-results") == 4


def test_results_reported_in_pmol_per_l_meet_the_sets_own_pmol_per_l_bands(nice: ThresholdSet) -> None:
    labs = [_lab(date(2025, 1, 2), 110, "pmol/L"), _lab(date(2025, 4, 2), 240, "pmol/L")]
    root = _root(timeline_svg(labs, [], nice))
    assert "below 133 pmol/L: Deficiency confirmed" in _desc(root)
    assert "Indeterminate – possible deficiency (133–258)" in _texts(root)
    assert "Total B12 (pmol/L)" in _texts(root)


def test_a_result_within_two_weeks_of_an_injection_is_drawn_hollow_and_not_banded(nice: ThresholdSet) -> None:
    labs = [*RESULTS, _lab(date(2025, 1, 20), 900)]  # 3 days after the dose of Jan 17
    root = _root(timeline_svg(labs, LOADING, nice))
    assert _markers(root, "b12-results-recent-injection") == 1
    assert _markers(root, "b12-results") == 3
    assert "900 ng/L on 2025-01-20 (3 days after an injection: not interpretable)" in _desc(root)


def test_with_no_results_the_plot_says_so(nice: ThresholdSet) -> None:
    root = _root(timeline_svg([], [], nice))
    assert "No total B12 results yet" in _texts(root)
    assert "No total B12 results yet." in _desc(root)
    assert "No doses given yet." in _desc(root)
    assert _group(root, "b12-results") is None


def test_with_doses_but_no_results_the_doses_are_still_shown(nice: ThresholdSet) -> None:
    root = _root(timeline_svg([], LOADING, nice))
    assert "No total B12 results yet" in _texts(root)
    assert _group(root, "b12-doses") is not None


def test_a_single_result_is_drawn(nice: ThresholdSet) -> None:
    root = _root(timeline_svg(RESULTS[:1], [], nice))
    assert _markers(root, "b12-results") == 1
    assert "1 result of total B12 in ng/L: 150 ng/L on 2025-01-02 (Deficiency confirmed)." in _desc(root)


def test_haemoglobin_gets_a_panel_of_its_own_when_recorded(nice: ThresholdSet) -> None:
    haemoglobin = [
        _lab(date(2025, 1, 2), 10.8, "g/dL", Analyte.HEMOGLOBIN),
        _lab(date(2025, 2, 2), 124, "g/L", Analyte.HEMOGLOBIN),
    ]
    with_hb = _root(timeline_svg([*RESULTS, *haemoglobin], LOADING, nice))
    group = _group(with_hb, "b12-haemoglobin")
    assert group is not None
    assert len(list(group.iter(f"{SVG}use"))) == 2
    assert "Haemoglobin, 2 results: 108 g/L on 2025-01-02; 124 g/L on 2025-02-02." in _desc(with_hb)
    assert _group(_root(timeline_svg(RESULTS, LOADING, nice)), "b12-haemoglobin") is None


def test_a_local_labs_raised_band_is_labelled_in_its_own_words() -> None:
    texts = _texts(_root(timeline_svg(RESULTS, [], load_threshold_set("ruh-bath"))))
    assert "Raised (>914)" in texts
    assert "Possible deficiency (145–180)" in texts


def test_an_analyte_without_bands_is_plotted_without_them(nice: ThresholdSet) -> None:
    labs = [_lab(date(2025, 1, 2), 620, "nmol/L", Analyte.MMA), _lab(date(2025, 3, 2), 310, "nmol/L", Analyte.MMA)]
    root = _root(timeline_svg(labs, [], nice, analyte=Analyte.MMA))
    assert _markers(root, "b12-results") == 2
    assert "Bands of" not in _desc(root)
    assert _group(root, "b12-band-0") is None


def test_a_result_in_a_unit_that_cannot_be_converted_is_left_out_and_said_so(nice: ThresholdSet) -> None:
    odd = LabEntry("lab-odd", "patient-1", date(2025, 2, 1), Analyte.B12_TOTAL, 5, "fL", 5, "fL")
    root = _root(timeline_svg([*RESULTS, odd], [], nice))
    assert _markers(root, "b12-results") == 3
    assert "1 result not shown: the unit could not be converted (5 fL on 2025-02-01)." in _desc(root)


def test_the_svg_can_be_written_inside_an_html_page(nice: ThresholdSet) -> None:
    svg = timeline_svg(RESULTS, LOADING, nice, standalone=False)
    assert svg.startswith("<svg ")
    assert _root(svg).tag == f"{SVG}svg"


def test_the_size_is_given_in_css_pixels(nice: ThresholdSet) -> None:
    root = _root(timeline_svg(RESULTS, [], nice, width=480, height=240))
    assert (root.get("width"), root.get("height")) == ("360pt", "180pt")  # 480 px x 240 px at 96 px/inch


def test_the_same_data_gives_the_same_svg(nice: ThresholdSet) -> None:
    assert timeline_svg(RESULTS, LOADING, nice) == timeline_svg(RESULTS, LOADING, nice)


def test_the_png_is_a_png_of_the_asked_size(nice: ThresholdSet) -> None:
    png = timeline_png(RESULTS, LOADING, nice, width=600, height=300, dpi=96)
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    width, height = int.from_bytes(png[16:20], "big"), int.from_bytes(png[20:24], "big")
    assert (width, height) == (600, 300)


def test_importing_the_plot_module_does_not_import_matplotlib() -> None:
    code = "import sys, b12.adapters.plot; print('matplotlib' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"
