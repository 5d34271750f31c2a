"""The assessment form <-> the JSON case format, and the words the form shows for each coded value.

The form's field names are the case format's paths (``patient.sex``, ``labs[0].unit``), so a
:class:`~b12.domain.errors.CaseError` names its input. Lab rows left empty are skipped, so the case's
``labs[j]`` is form row ``rows[j]``: :func:`form_field` maps one to the other. Every problem found is shown at
once: the form's own parsing, then :func:`~b12.adapters.case_json.case_from_json` (which collects all of its
problems), then each lab unit and the strength against the closed unit vocabulary, then the planner.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from typing import Any

from b12.adapters.case_json import CaseFormatError, SyringeScale, case_from_json
from b12.adapters.web.forms import FormState, parse_number, parse_whole
from b12.domain.analytes import Analyte
from b12.domain.case import NEUROLOGICAL_SYMPTOMS, Case, Cause, Condition, Ethnicity, Route, Sex, Symptom
from b12.domain.errors import B12Error, CaseError, InternationalUnitError, UnitError
from b12.domain.guidelines import GUIDELINE_IDS, load_guideline
from b12.domain.labs import load_threshold_set, threshold_sets
from b12.domain.plan import Plan
from b12.domain.units import Dimension, known_units, parse_strength, parse_unit
from b12.services import plan_case

LAB_ROWS = 4
MAX_LAB_ROWS = 30
LAB_FIELDS = ("test", "value", "unit", "date", "lower_limit", "upper_limit")

TEST_LABELS = {
    Analyte.B12_TOTAL: "Total B12 (serum cobalamin)",
    Analyte.B12_ACTIVE: "Active B12 (holotranscobalamin)",
    Analyte.MMA: "MMA (methylmalonic acid)",
    Analyte.HOMOCYSTEINE: "Homocysteine",
    Analyte.HEMOGLOBIN: "Haemoglobin",
    Analyte.MCV: "MCV (mean cell volume)",
    Analyte.FOLATE: "Serum folate",
    Analyte.POTASSIUM: "Potassium",
    Analyte.RETICULOCYTES: "Reticulocytes",
}
SYMPTOM_LABELS = {
    Symptom.FATIGUE: "Tiredness (fatigue)",
    Symptom.GLOSSITIS: "Sore, red tongue (glossitis)",
    Symptom.PARAESTHESIA: "Pins and needles (paraesthesia)",
    Symptom.NUMBNESS: "Numbness",
    Symptom.ATAXIA: "Clumsy, unsteady movement (ataxia)",
    Symptom.GAIT: "Walking difficulty (gait)",
    Symptom.BALANCE: "Poor balance",
    Symptom.MEMORY: "Memory problems",
    Symptom.VISION: "Changes in vision",
    Symptom.MOOD: "Mood changes",
    Symptom.BREATHLESS: "Breathlessness",
}
CAUSE_LABELS = {
    Cause.DIET: "Diet (vegan or little animal food)",
    Cause.AUTOIMMUNE_GASTRITIS: "Autoimmune gastritis (pernicious anaemia)",
    Cause.GASTRECTOMY: "Gastrectomy",
    Cause.BARIATRIC_SURGERY: "Bariatric surgery",
    Cause.ILEAL_RESECTION: "Ileal resection",
    Cause.CROHNS: "Crohn's disease",
    Cause.COELIAC: "Coeliac disease",
    Cause.METFORMIN: "Metformin",
    Cause.PPI: "Proton pump inhibitor",
    Cause.H2_ANTAGONIST: "H2-receptor antagonist",
    Cause.NITROUS_OXIDE: "Nitrous oxide (recreational)",
    Cause.UNKNOWN: "Not known yet",
}
CONDITION_LABELS = {
    Condition.LEBER: "Leber's hereditary optic neuropathy",
    Condition.TOBACCO_AMBLYOPIA: "Tobacco amblyopia",
    Condition.COBALT_ALLERGY: "Cobalt or B12 sensitivity",
    Condition.RENAL_IMPAIRMENT: "Renal impairment",
    Condition.ANTICOAGULANT: "Takes an anticoagulant",
}
ROUTE_LABELS = {
    Route.IM: "Injection into a muscle (IM)",
    Route.ORAL: "Tablets (oral)",
    Route.NASAL: "Nasal spray",
}
SEX_LABELS = {Sex.FEMALE: "Female", Sex.MALE: "Male"}
ETHNICITY_LABELS = {e: e.value.capitalize() for e in Ethnicity}


def label(value: StrEnum | str) -> str:
    """The words for a coded value; a value added to a vocabulary later shows readably before it has any."""
    for table in (TEST_LABELS, SYMPTOM_LABELS, CAUSE_LABELS, CONDITION_LABELS, ROUTE_LABELS, SEX_LABELS):
        for key, text in table.items():
            if key.value == str(value):
                return text
    return str(value).replace("_", " ").capitalize()


@dataclass(frozen=True, slots=True)
class Choice:
    value: str
    label: str
    hint: str = ""


def choices() -> dict[str, list[Choice]]:
    """Every closed list the form offers, from the domain's vocabularies and the guideline data."""
    return {
        "guideline": [Choice(g, load_guideline(g).title) for g in GUIDELINE_IDS],
        "thresholds": [Choice(t, load_threshold_set(t).title) for t in threshold_sets()],
        "test": [Choice(a.value, label(a)) for a in Analyte],
        "sex": [Choice(s.value, label(s)) for s in Sex],
        "ethnicity": [Choice(e.value, ETHNICITY_LABELS[e]) for e in Ethnicity],
        "symptoms": [Choice(s.value, label(s), "neurological" if s in NEUROLOGICAL_SYMPTOMS else "") for s in Symptom],
        "causes": [Choice(c.value, label(c)) for c in Cause],
        "conditions": [Choice(c.value, label(c)) for c in Condition],
        "route": [Choice(r.value, label(r)) for r in Route],
        "syringe": [Choice(s.value, s.value) for s in SyringeScale],
    }


def lab_units() -> list[str]:
    """Unit spellings suggested for lab results (any accepted spelling may be typed)."""
    dimensions = (
        Dimension.MASS_CONCENTRATION,
        Dimension.AMOUNT_CONCENTRATION,
        Dimension.ENTITIC_VOLUME,
        Dimension.FRACTION,
        Dimension.NUMBER_CONCENTRATION,
    )
    return [u.symbol for d in dimensions for u in known_units(d)]


def blank_form(today: date) -> FormState:
    form = FormState()
    form.values.update({"guideline": "uk", "start": today.isoformat(), "lab_rows": str(LAB_ROWS), "syringe": "U-100"})
    return form


def lab_rows(form: FormState) -> int:
    try:
        rows = int(form.text("lab_rows") or LAB_ROWS)
    except ValueError:
        rows = LAB_ROWS
    return max(1, min(rows, MAX_LAB_ROWS))


def _lab(form: FormState, row: int) -> dict[str, Any] | None:
    names = {f: f"labs[{row}].{f}" for f in LAB_FIELDS}
    if not any(form.text(n) for n in names.values()):
        return None
    lab: dict[str, Any] = {}
    if form.text(names["test"]):
        lab["test"] = form.text(names["test"])
    value = parse_number(form, names["value"], required=True)
    if value is not None:
        lab["value"] = value
    if form.text(names["unit"]):
        lab["unit"] = form.text(names["unit"])
    else:
        form.add_error(names["unit"], "Enter the unit printed on the report, for example ng/L or pmol/L")
    if form.text(names["date"]):
        lab["date"] = form.text(names["date"])
    for limit in ("lower_limit", "upper_limit"):
        number = parse_number(form, names[limit])
        if number is not None:
            lab[limit] = number
    return lab


def case_data(form: FormState) -> tuple[dict[str, Any], list[int]]:
    """The JSON case the form describes, and the form row of each lab; form-level problems go in ``form``."""
    data: dict[str, Any] = {"guideline": form.text("guideline")}
    if form.text("thresholds"):
        data["thresholds"] = form.text("thresholds")
    if form.text("start"):
        data["start"] = form.text("start")
    horizon = parse_whole(form, "horizon")
    if horizon is not None:
        data["horizon"] = horizon

    patient: dict[str, Any] = {}
    if form.text("patient.sex"):
        patient["sex"] = form.text("patient.sex")
    age = parse_whole(form, "patient.age", example="62")
    if age is not None:
        patient["age"] = age
    patient["pregnant"] = form.checked("patient.pregnant")
    patient["breastfeeding"] = form.checked("patient.breastfeeding")
    if form.text("patient.ethnicity"):
        patient["ethnicity"] = form.text("patient.ethnicity")
    data["patient"] = patient

    labs: list[dict[str, Any]] = []
    rows: list[int] = []
    for row in range(lab_rows(form)):
        lab = _lab(form, row)
        if lab is not None:
            labs.append(lab)
            rows.append(row)
    data["labs"] = labs
    for key in ("symptoms", "causes", "conditions"):
        data[key] = list(dict.fromkeys(form.all(key)))

    preferences: dict[str, Any] = {}
    if form.text("preferences.route"):
        preferences["route"] = form.text("preferences.route")
    interval = parse_whole(form, "preferences.maintenance_interval_months", example="2")
    if interval is not None:
        preferences["maintenance_interval_months"] = interval
    treat = form.text("preferences.treat")
    if treat in ("yes", "no"):
        preferences["treat"] = treat == "yes"
    overrides = [o.upper() for o in re.split(r"[\s,;]+", form.text("preferences.overrides")) if o]
    if overrides:
        preferences["overrides"] = overrides
    data["preferences"] = preferences

    treatment: dict[str, Any] = {"long_term_replacement": form.checked("treatment.long_term_replacement")}
    if form.text("treatment.last_injection"):
        treatment["last_injection"] = form.text("treatment.last_injection")
    data["treatment"] = treatment
    if form.text("strength"):
        data["strength"] = form.text("strength")
    if form.text("syringe"):
        data["syringe"] = form.text("syringe")
    return data, rows


_FIELDS = frozenset(
    {
        "guideline",
        "thresholds",
        "start",
        "horizon",
        "patient.sex",
        "patient.age",
        "patient.pregnant",
        "patient.breastfeeding",
        "patient.ethnicity",
        "symptoms",
        "causes",
        "conditions",
        "preferences.route",
        "preferences.maintenance_interval_months",
        "preferences.treat",
        "preferences.overrides",
        "treatment.last_injection",
        "treatment.long_term_replacement",
        "strength",
        "syringe",
    }
)
_LAB_PATH = re.compile(r"labs\[(\d+)\](?:\.(\w+))?")


def form_field(path: str, rows: list[int]) -> str | None:
    """The form field a case path names: ``labs[0].unit`` -> ``labs[2].unit`` when row 2 was the first filled."""
    match = _LAB_PATH.match(path)
    if match:
        index = int(match[1])
        if index >= len(rows):
            return None
        sub = match[2] if match[2] in LAB_FIELDS else "test"
        return f"labs[{rows[index]}].{sub}"
    base = re.sub(r"\[\d+\]$", "", path)
    if base == "patient":
        return "patient.sex"
    return base if base in _FIELDS else None


_LAB_WORDS = {
    "test": "test",
    "value": "value",
    "unit": "unit",
    "date": "date",
    "lower_limit": "lower limit",
    "upper_limit": "upper limit",
}
_LABELS = {
    "patient.sex": "Sex",
    "patient.age": "Age",
    "patient.pregnant": "Pregnant",
    "patient.breastfeeding": "Breastfeeding",
    "patient.ethnicity": "Ethnicity",
    "preferences.route": "Route preference",
    "preferences.treat": "Decision to treat",
    "preferences.maintenance_interval_months": "Maintenance interval",
    "preferences.overrides": "Rules overridden",
    "treatment.last_injection": "Last injection",
    "treatment.long_term_replacement": "Long-term replacement",
    "horizon": "Months of schedule",
    "start": "Start date",
    "strength": "Product strength",
    "password_confirm": "Password again",
    "birth_date": "Date of birth",
    "dose": "Dose",
}


def field_label(name: str) -> str:
    """A field's name in the words of its label, for the list of problems at the top of a form."""
    match = _LAB_PATH.fullmatch(name)
    if match and match[2] in _LAB_WORDS:
        return f"Result {int(match[1]) + 1}, {_LAB_WORDS[match[2]]}"
    return _LABELS.get(name) or name.rsplit(".", 1)[-1].replace("_", " ").capitalize()


def _message(problem: str) -> str:
    """A case-format message ("is required (…)", "must be …") as a sentence beside its field."""
    return f"This {problem}" if problem.startswith(("is ", "must ")) else problem


def add_case_error(form: FormState, error: CaseError, rows: list[int]) -> None:
    problems: Iterable[CaseError] = error.problems if isinstance(error, CaseFormatError) else (error,)
    for problem in problems:
        name = form_field(problem.field, rows)
        if name is None:
            form.general.append(str(problem))
        else:
            form.add_error(name, _message(problem.problem))


def _check_units(form: FormState, data: dict[str, Any], rows: list[int]) -> None:
    """Every lab unit and the strength against the closed vocabulary, so all are reported at once."""
    for index, lab in enumerate(data["labs"]):
        if isinstance(lab.get("unit"), str):
            try:
                parse_unit(lab["unit"])
            except InternationalUnitError:
                # The domain's IU message is about doses; a lab result needs the report's own unit.
                form.add_error(
                    f"labs[{rows[index]}].unit",
                    f"{lab['unit']!r} is an international unit, which b12 does not read for lab results: write "
                    "the unit exactly as printed on the report, for example ng/L, pg/mL or pmol/L",
                )
            except UnitError as error:
                form.add_error(f"labs[{rows[index]}].unit", str(error))
    if isinstance(data.get("strength"), str):
        try:
            parse_strength(data["strength"])
        except UnitError as error:
            form.add_error("strength", str(error))


def plan_from_form(form: FormState) -> Plan | None:
    """The plan for the form's case, or None with every problem recorded in ``form``."""
    data, rows = case_data(form)
    case: Case | None = None
    try:
        case = case_from_json(data)
    except CaseError as error:
        add_case_error(form, error, rows)
    _check_units(form, data, rows)
    if case is None or not form.ok:
        return None
    try:
        return plan_case(case)
    except CaseError as error:
        add_case_error(form, error, rows)
    except UnitError as error:  # the strength, read by the planner
        form.add_error("strength", str(error))
    except B12Error as error:
        form.general.append(str(error))
    return None
