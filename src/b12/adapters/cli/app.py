"""The Typer app: every ``b12`` command, its help, and Rich output.

Flags build the same JSON case that ``--input`` reads (``docs/case-format.md``), so a case typed on the
command line and a case file are validated by one path. This adapter may read the clock (``--start
today``); the domain never does.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from datetime import date
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text
from typer._click import Context as ClickContext
from typer.core import TyperArgument, TyperCommand

from b12.adapters.case_json import case_from_json, json_from_text
from b12.adapters.cli import EXIT_INTERNAL, EXIT_OK, EXIT_USAGE
from b12.adapters.cli.fhir_cli import register as register_fhir
from b12.adapters.cli.quick import convert_answer, dose_answer
from b12.adapters.cli.serve_cli import register as register_serve
from b12.adapters.cli.triage_cli import register as register_triage
from b12.adapters.plan_json import comparison_to_dict, interpretation_to_dict, plan_to_dict
from b12.domain.case import Case
from b12.domain.errors import B12Error, CaseError
from b12.domain.plan import DISCLAIMER, Comparison, Plan
from b12.domain.units import format_number

app = typer.Typer(
    name="b12",
    help="Vitamin B12 deficiency decision support: units, lab interpretation, guideline regimens and dated plans. "
    "Decision support only — a clinician decides.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
guidelines_app = typer.Typer(help="List the rules b12 applies, with their sources; 'show ID' for one rule.")
app.add_typer(guidelines_app, name="guidelines")
register_triage(app)
register_serve(app)
register_fhir(app)


def _console() -> Console:
    """Made at print time: a module-level Console fixes its colour choice at import, from another sys.stdout."""
    return Console(highlight=False, soft_wrap=False)


SEVERITY_STYLE = {"critical": "bold red", "warning": "yellow", "info": "cyan"}
STATUS_STYLE = {
    "confirmed": "bold red",
    "indeterminate": "yellow",
    "unlikely": "green",
    "not_assessable": "dim",
}


# --- case flags, shared by interpret / plan / compare ------------------------------------------------

InputOpt = Annotated[
    Path | None, typer.Option("--input", "-i", help="A case as JSON (docs/case-format.md); '-' reads stdin.")
]
GuidelineOpt = Annotated[
    str | None, typer.Option("--guideline", "-g", help="uk | us-label | us-practice (default uk).")
]
ThresholdsOpt = Annotated[
    str | None, typer.Option(help="Threshold set: nice-ng239, bsh-2014, ruh-bath, north-bristol.")
]
StartOpt = Annotated[str | None, typer.Option(help="Start date, ISO (2026-01-05) or 'today'.")]
SexOpt = Annotated[str | None, typer.Option(help="female | male.")]
AgeOpt = Annotated[int | None, typer.Option(help="Age in years.")]
PregnantOpt = Annotated[bool | None, typer.Option("--pregnant/--not-pregnant", help="Pregnant.", show_default=False)]
BreastfeedingOpt = Annotated[bool | None, typer.Option("--breastfeeding/--not-breastfeeding", show_default=False)]
EthnicityOpt = Annotated[str | None, typer.Option(help="black | asian | white | mixed | other.")]
LabOpt = Annotated[
    list[str] | None,
    typer.Option("--lab", "-l", help="TEST=VALUE UNIT[@DATE], e.g. 'b12_total=150 ng/L'. Repeatable."),
]
SymptomOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--symptom",
        help="fatigue, glossitis, paraesthesia, numbness, ataxia, gait, balance, memory, vision, mood, "
        "breathless. Repeatable.",
    ),
]
CauseOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--cause",
        help="diet, autoimmune_gastritis, gastrectomy, bariatric_surgery, ileal_resection, crohns, coeliac, "
        "metformin, ppi, h2_antagonist, nitrous_oxide, unknown. Repeatable.",
    ),
]
ConditionOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--condition",
        help="leber, tobacco_amblyopia, cobalt_allergy, renal_impairment, anticoagulant. Repeatable.",
    ),
]
RouteOpt = Annotated[str | None, typer.Option(help="Route preference: im | oral | nasal.")]
IntervalOpt = Annotated[
    int | None,
    typer.Option("--maintenance-interval", help="Maintenance interval in months, chosen by the clinician."),
]
TreatOpt = Annotated[
    bool | None,
    typer.Option("--treat/--no-treat", help="A clinician's decision to treat or not.", show_default=False),
]
OverrideOpt = Annotated[
    list[str] | None, typer.Option("--override", help="A rule ID the clinician overrides, e.g. SAFE-COBALT.")
]
LastInjectionOpt = Annotated[str | None, typer.Option(help="Date of the last B12 injection (ISO).")]
LongTermOpt = Annotated[
    bool | None,
    typer.Option("--long-term-replacement", help="Established on long-term replacement.", show_default=False),
]
StrengthOpt = Annotated[str | None, typer.Option(help="Product strength, e.g. '1 mg/mL', '1000 mcg/mL'.")]
SyringeOpt = Annotated[str | None, typer.Option(help="Syringe scale: U-100 (default) or U-40.")]
HorizonOpt = Annotated[int | None, typer.Option(help="Schedule horizon in months (default 12).")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON instead of tables.")]


def _today() -> date:
    return date.today()


def _start(text: str | None) -> str | None:
    if text is None:
        return None
    return _today().isoformat() if text.strip().lower() == "today" else text


def _parse_lab(index: int, text: str) -> dict[str, Any]:
    test, sep, rest = text.partition("=")
    if not sep:
        raise CaseError(f"--lab #{index + 1}", f"{text!r}: write TEST=VALUE UNIT, e.g. 'b12_total=150 ng/L'")
    rest, _, when = rest.partition("@")
    parts = rest.strip().split(None, 1)
    if len(parts) != 2:
        raise CaseError(f"--lab #{index + 1}", f"{text!r}: give a value and a unit, e.g. '150 ng/L'")
    try:
        value: float = float(parts[0])
    except ValueError:
        raise CaseError(f"--lab #{index + 1}", f"{parts[0]!r} is not a number") from None
    lab: dict[str, Any] = {"test": test.strip(), "value": value, "unit": parts[1].strip()}
    if when.strip():
        lab["date"] = when.strip()
    return lab


def _read_input(path: Path) -> dict[str, Any]:
    try:
        text = sys.stdin.read() if str(path) == "-" else path.read_text(encoding="utf-8")
    except OSError as error:
        raise CaseError("--input", f"cannot read {path}: {error.strerror or error}") from None
    except UnicodeDecodeError:
        raise CaseError("--input", f"cannot read {path}: a case is UTF-8 text") from None
    data = json_from_text(text)
    if not isinstance(data, dict):
        raise CaseError("--input", "a case is a JSON object")
    return data


def _object(data: dict[str, Any], key: str) -> dict[str, Any] | None:
    """A copy of the object at ``key`` to merge flags into; None when it is not an object (validation names it)."""
    value = data.get(key)
    if value is None:
        return {}
    return dict(value) if isinstance(value, dict) else None


def _list(data: dict[str, Any], key: str) -> list[Any] | None:
    value = data.get(key)
    if value is None:
        return []
    return list(value) if isinstance(value, list) else None


def build_case(input: Path | None, **flags: Any) -> Case:
    """Merge a case file (if any) with the flags given, then validate through the JSON case path.

    A value of the wrong type in the file (``"patient": "female"``) is left as it is, so that the case
    validation reports it by its path rather than the merge failing.
    """
    data: dict[str, Any] = _read_input(input) if input else {}
    patient = _object(data, "patient")
    if patient is not None:
        for key in ("sex", "age", "pregnant", "breastfeeding", "ethnicity"):
            if flags.get(key) is not None:
                patient[key] = flags[key]
        if patient:
            data["patient"] = patient
    for key in ("guideline", "thresholds", "strength", "syringe", "horizon"):
        if flags.get(key) is not None:
            data[key] = flags[key]
    if flags.get("start") is not None:
        data["start"] = _start(flags["start"])
    elif isinstance(data.get("start"), str) and data["start"].lower() == "today":
        data["start"] = _today().isoformat()
    data.setdefault("guideline", "uk")
    data.setdefault("start", _today().isoformat())
    if flags.get("labs") and (labs := _list(data, "labs")) is not None:
        data["labs"] = [*labs, *(_parse_lab(i, t) for i, t in enumerate(flags["labs"]))]
    for key in ("symptoms", "causes", "conditions"):
        if flags.get(key) and (values := _list(data, key)) is not None:
            data[key] = [*values, *flags[key]]
    preferences = _object(data, "preferences")
    if preferences is not None:
        for flag, key in (
            ("route", "route"),
            ("maintenance_interval", "maintenance_interval_months"),
            ("treat", "treat"),
        ):
            if flags.get(flag) is not None:
                preferences[key] = flags[flag]
        if flags.get("overrides") and (overrides := _list(preferences, "overrides")) is not None:
            preferences["overrides"] = [*overrides, *flags["overrides"]]
        if preferences:
            data["preferences"] = preferences
    treatment = _object(data, "treatment")
    if treatment is not None:
        if flags.get("last_injection") is not None:
            treatment["last_injection"] = flags["last_injection"]
        if flags.get("long_term_replacement") is not None:
            treatment["long_term_replacement"] = flags["long_term_replacement"]
        if treatment:
            data["treatment"] = treatment
    return case_from_json(data)


# --- output -------------------------------------------------------------------------------------------


def _t(text: object, style: str = "") -> Text:
    """Data printed as-is: source IDs like [S18] must not be read as Rich markup."""
    return Text(str(text), style=style)


def _print_json(data: object) -> None:
    sys.stdout.write(json.dumps(data, indent=2, ensure_ascii=False) + "\n")


def _print_interpretation(data: dict[str, Any]) -> None:
    out = _console()
    status = data["status"]
    ts = data["threshold_set"]
    out.print(
        Text.assemble(
            "Status: ",
            (status.replace("_", " "), STATUS_STYLE.get(status, "")),
            f"   (threshold set {ts['id']} {ts['version']})",
        )
    )
    out.print(_t(f"Boundaries: {ts['boundary_rule']}", "dim"))
    if data["normalised"]:
        table = Table("test", "reported", "normalised", "other unit", "band", title="Results", title_justify="left")
        for r in data["normalised"]:
            other = f"{format_number(r['other_value'])} {r['other_unit']}" if r["other_value"] is not None else ""
            table.add_row(
                _t(r["test"]),
                _t(f"{r['original_value']:g} {r['original_unit']}"),
                _t(f"{format_number(r['value'])} {r['unit']}"),
                _t(other),
                _t(r["band"] or ""),
            )
        out.print(table)
    for f in data["findings"]:
        out.print(_t(f"• {f['message']}  [{f['rule'] or ''} {' '.join(f['sources'])}]".replace("[ ", "[")))
    for t in data["next_tests"]:
        out.print(_t(f"→ next test: {t['test']} — {t['reason']}  [{t['rule']} {' '.join(t['sources'])}]", "bold"))


def _print_alerts(alerts: Sequence[dict[str, Any]]) -> None:
    if not alerts:
        return
    out = _console()
    out.print(_t("Alerts", "bold underline"))
    for a in alerts:
        out.print(
            Text.assemble(
                (f"[{a['severity']}] {a['rule']}", SEVERITY_STYLE[a["severity"]]),
                f" {a['message']} ",
                (f"({' '.join(a['sources']) or 'no source: see message'})", "dim"),
            )
        )


def print_plan(plan: Plan, *, all_doses: bool) -> None:
    out = _console()
    data = plan_to_dict(plan)
    guideline = data["guideline"]
    out.rule(_t(f"b12 plan — {guideline['title']} (version {guideline['version']})"))
    _print_interpretation(data["interpretation"])
    rec = data["recommendation"]
    out.print()
    out.print(
        Text.assemble(
            ("Recommendation: ", "bold"),
            ("treat" if rec["treat"] else "do not treat now", "bold"),
            f" — {rec['reason']}",
        )
    )
    if rec["regimen"]:
        out.print(_t(f"{rec['regimen']}: {rec['title']}"))
        phases = Table("phase", "dose", "how often", "for how long", "rule", "sources", title_justify="left")
        for p in rec["phases"]:
            length = (
                f"{p['doses']} doses"
                if p["doses"]
                else f"{p['duration_days']} days"
                if p["duration_days"]
                else p["until"] or ""
            )
            phases.add_row(
                _t(p["name"]),
                _t(f"{p['dose_mg']:g} mg {p['route'].upper()}"),
                _t(p["frequency"]),
                _t(length),
                _t(p["rule"]),
                _t(" ".join(p["sources"])),
            )
        out.print(phases)
    lifelong = "for life" if rec["lifelong"] else (rec["reconsider"] or "")
    if rec["treat"]:
        out.print(_t(f"Duration: {lifelong}"))
    if rec["blocked_products"]:
        out.print(_t(f"Blocked: {', '.join(rec['blocked_products'])}", "bold red"))
    if rec["urgent_specialist_advice"]:
        out.print(_t("Seek urgent specialist (haematology) advice.", "bold red"))
    if data["schedule"]:
        doses = data["schedule"] if all_doses else data["schedule"][:14]
        table = Table(
            "date",
            "phase",
            "dose",
            "volume",
            "syringe",
            title=f"Schedule to {data['horizon']['end']}",
            title_justify="left",
        )
        for d in doses:
            units = f"{d['syringe_units']:g} units" if d["syringe_units"] is not None else ""
            volume = f"{d['volume_ml']:g} mL" if d["volume_ml"] is not None else d["route"]
            table.add_row(
                _t(d["date"]),
                _t(d["phase"] + (" (provisional)" if d["provisional"] else "")),
                _t(f"{d['dose_mg']:g} mg"),
                _t(volume),
                _t(units),
            )
        out.print(table)
        hidden = len(data["schedule"]) - len(doses)
        if hidden:
            out.print(_t(f"… {hidden} more doses (--all-doses to list them, --json for everything)", "dim"))
        totals = Table(
            "phase", "doses", "injections", "mg", "mL", "first", "last", title="Totals", title_justify="left"
        )
        for t in [*data["totals"]["phases"], data["totals"]["overall"]]:
            totals.add_row(
                _t(t["phase"] + ("" if t["complete"] else " (to horizon)")),
                _t(t["doses"]),
                _t(t["injections"]),
                _t(f"{t['mg']:g}"),
                _t("" if t["ml"] is None else f"{t['ml']:g}"),
                _t(t["first"] or ""),
                _t(t["last"] or ""),
            )
        out.print(totals)
    out.print(_t(data["switch"]["note"], "bold"))
    if data["followups"]:
        out.print(_t("Follow-up", "bold underline"))
        previous = None
        for f in data["followups"]:
            out.print(
                Text.assemble(
                    (f"{f['date']}  {f['kind']:<10}", "bold"),
                    f" {', '.join(f['tests'])}  ",
                    (f"[{f['rule']} {' '.join(f['sources'])}]", "dim"),
                )
            )
            if f["expect"]:
                out.print(_t("    (as above)" if f["expect"] == previous else f"    {f['expect']}"))
            previous = f["expect"]
    _print_alerts(data["alerts"])
    out.print(_t(f"Rules applied: {', '.join(data['rules_applied'])}", "dim"))
    out.print(_t(DISCLAIMER, "italic"))


def print_comparison(comparison: Comparison) -> None:
    out = _console()
    data = comparison_to_dict(comparison)
    rows = data["regimens"]
    table = Table(
        "",
        *(f"{r['regimen']}\n({r['guideline']})" for r in rows),
        title=f"Regimens from {data['start']}",
        title_justify="left",
    )

    def retained(window: str) -> list[Text]:
        cells = []
        for r in rows:
            kept = r["estimated_retained"][window]
            if not kept["doses_counted"]:
                cells.append(_t("n/a (no figure)"))
                continue
            value = (
                f"{kept['low_mg']:g}"
                if kept["low_mg"] == kept["high_mg"]
                else f"{kept['low_mg']:g}–{kept['high_mg']:g}"
            )
            if kept["doses_without_figure"]:
                value += f" (+{kept['doses_without_figure']} doses without a figure)"
            cells.append(_t(value))
        return cells

    open_mark = [" (open-ended)" if r["open_ended"] else "" for r in rows]
    table.add_row("product", *(_t(r["product"]) for r in rows))
    table.add_row("injections, first 8 weeks", *(_t(r["first_8_weeks"]["injections"]) for r in rows))
    table.add_row("mg, first 8 weeks", *(_t(f"{r['first_8_weeks']['mg']:g}") for r in rows))
    table.add_row(
        "injections, first year",
        *(_t(f"{r['first_year']['injections']}{m}") for r, m in zip(rows, open_mark, strict=True)),
    )
    table.add_row("doses, first year", *(_t(r["first_year"]["doses"]) for r in rows))
    table.add_row(
        "mg, first year", *(_t(f"{r['first_year']['mg']:g}{m}") for r, m in zip(rows, open_mark, strict=True))
    )
    table.add_row("loading ends", *(_t(r["loading_ends"] or "— (clinician decides)") for r in rows))
    table.add_row("maintenance starts", *(_t(r["maintenance_starts"] or "—") for r in rows))
    table.add_row("est. retained mg, 8 weeks", *retained("first_8_weeks"))
    table.add_row("est. retained mg, first year", *retained("first_year"))
    table.add_row("sources", *(_t(" ".join(r["sources"])) for r in rows))
    out.print(table)
    if any(open_mark):
        out.print(_t("Open-ended: loading continues until a clinician ends it; counts assume it runs all year.", "dim"))
    est = data["retention_estimate"]
    out.print(
        _t(
            f"Estimated retained = dose × (1 − 72-h urinary loss). {est['caveat']} "
            f"Sources: {' '.join(est['sources'])}.",
            "dim",
        )
    )
    out.print(_t(DISCLAIMER, "italic"))


# --- commands -----------------------------------------------------------------------------------------


class _AmountCommand(TyperCommand):
    """The usage line as typed, ``b12 convert [OPTIONS] AMOUNT [UNIT] TO_UNIT``, not click's ``[AMOUNT]...``: the
    arguments are one list so that an amount may be one argument or two, and the answer checks how many."""

    def collect_usage_pieces(self, ctx: ClickContext) -> list[str]:
        pieces = [self.options_metavar] if self.options_metavar else []
        return pieces + [p.metavar for p in self.get_params(ctx) if isinstance(p, TyperArgument) and p.metavar]


@app.command(cls=_AmountCommand)
def convert(
    amount: Annotated[
        list[str] | None,
        typer.Argument(
            metavar="AMOUNT [UNIT] TO_UNIT",
            help="The amount with its unit, as one argument or two ('1000 mcg', 1000mcg or 1000 mcg; mcg, "
            "pg/mL, g/dL, …), then the unit wanted (mg, pmol/L, g/L, …).",
            show_default=False,
        ),
    ] = None,
    analyte: Annotated[
        str | None,
        typer.Option("--analyte", "-a", help="Needed for mass <-> amount: b12, folate, hemoglobin, …"),
    ] = None,
) -> None:
    """Convert a dose or a lab value between units (µg/mcg/mg, pg/mL = ng/L <-> pmol/L, g/dL <-> g/L, …).

    Example: b12 convert 1000 mcg mg, or b12 convert '250 pg/mL' pmol/L --analyte b12.
    """
    _console().print(_t(convert_answer(amount or [], analyte)))


@app.command(cls=_AmountCommand)
def dose(
    amount: Annotated[
        list[str] | None,
        typer.Argument(
            metavar="DOSE [UNIT]",
            help="The dose with its unit, as one argument or two ('1 mg', 1mg or 1 mg; mg, mcg, µg, microgram(s)).",
            show_default=False,
        ),
    ] = None,
    strength: Annotated[
        str | None,
        typer.Option(
            "--strength",
            "-s",
            help="Product strength (required), e.g. 1000mcg/mL, 1 mg/mL, 5 mg/2 mL.",
            show_default=False,
        ),
    ] = None,
    syringe: Annotated[str, typer.Option(help="Syringe scale: U-100, U-40, or 'none'.")] = "U-100",
) -> None:
    """How much to draw up: the volume in mL and the units on an insulin syringe for a dose.

    Example: b12 dose 1 mg --strength 1000mcg/mL --syringe U-100.
    """
    out = _console()
    for line in dose_answer(amount or [], strength, syringe):
        out.print(_t(line))


@app.command()
def interpret(
    input: InputOpt = None,
    guideline: GuidelineOpt = None,
    thresholds: ThresholdsOpt = None,
    start: StartOpt = None,
    sex: SexOpt = None,
    age: AgeOpt = None,
    pregnant: PregnantOpt = None,
    breastfeeding: BreastfeedingOpt = None,
    ethnicity: EthnicityOpt = None,
    lab: LabOpt = None,
    symptom: SymptomOpt = None,
    cause: CauseOpt = None,
    condition: ConditionOpt = None,
    last_injection: LastInjectionOpt = None,
    long_term_replacement: LongTermOpt = None,
    mcv_cutoff: Annotated[float | None, typer.Option(help="MCV cut-off for macrocytosis in fL (default 100).")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Interpret a lab panel against a threshold set: status, findings, what to test next."""
    from b12.services import interpret_case

    case = build_case(
        input,
        guideline=guideline,
        thresholds=thresholds,
        start=start,
        sex=sex,
        age=age,
        pregnant=pregnant,
        breastfeeding=breastfeeding,
        ethnicity=ethnicity,
        labs=lab,
        symptoms=symptom,
        causes=cause,
        conditions=condition,
        last_injection=last_injection,
        long_term_replacement=long_term_replacement,
    )
    if mcv_cutoff is not None:
        from dataclasses import replace

        case = replace(case, mcv_cutoff_fl=mcv_cutoff)
    interpretation = interpret_case(case)
    data = interpretation_to_dict(interpretation)
    data["alerts"] = [
        {"rule": a.rule, "severity": a.severity.value, "message": a.message, "sources": list(a.sources)}
        for a in interpretation.alerts
    ]
    if as_json:
        _print_json(data)
        return
    _print_interpretation(data)
    _print_alerts(data["alerts"])


@app.command()
def plan(
    input: InputOpt = None,
    guideline: GuidelineOpt = None,
    thresholds: ThresholdsOpt = None,
    start: StartOpt = None,
    sex: SexOpt = None,
    age: AgeOpt = None,
    pregnant: PregnantOpt = None,
    breastfeeding: BreastfeedingOpt = None,
    ethnicity: EthnicityOpt = None,
    lab: LabOpt = None,
    symptom: SymptomOpt = None,
    cause: CauseOpt = None,
    condition: ConditionOpt = None,
    route: RouteOpt = None,
    maintenance_interval: IntervalOpt = None,
    treat: TreatOpt = None,
    override: OverrideOpt = None,
    last_injection: LastInjectionOpt = None,
    long_term_replacement: LongTermOpt = None,
    strength: StrengthOpt = None,
    syringe: SyringeOpt = None,
    horizon: HorizonOpt = None,
    as_json: JsonOpt = False,
    all_doses: Annotated[bool, typer.Option("--all-doses", help="List every dose, not the first 14.")] = False,
) -> None:
    """Build a plan: interpretation, regimen, dated schedule with totals, follow-ups and safety alerts."""
    from b12.services import plan_case

    case = build_case(
        input,
        guideline=guideline,
        thresholds=thresholds,
        start=start,
        sex=sex,
        age=age,
        pregnant=pregnant,
        breastfeeding=breastfeeding,
        ethnicity=ethnicity,
        labs=lab,
        symptoms=symptom,
        causes=cause,
        conditions=condition,
        route=route,
        maintenance_interval=maintenance_interval,
        treat=treat,
        overrides=override,
        last_injection=last_injection,
        long_term_replacement=long_term_replacement,
        strength=strength,
        syringe=syringe,
        horizon=horizon,
    )
    result = plan_case(case)
    if as_json:
        _print_json(plan_to_dict(result))
    else:
        print_plan(result, all_doses=all_doses)


@app.command()
def compare(
    regimens: Annotated[
        list[str] | None, typer.Argument(help="Regimen IDs, e.g. UK-IM-NN US-FDA-CN US-STABLER.")
    ] = None,
    input: InputOpt = None,
    start: StartOpt = None,
    guideline: GuidelineOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Compare regimens side by side: injections and mg in 8 weeks and a year, switch date, estimated retained."""
    from b12.services import compare_regimens, plan_case, plan_regimens

    ids = list(regimens or [])
    start_date: str | None = _start(start)
    if input is not None:
        case = build_case(input, guideline=guideline, start=start)
        start_date = case.start.isoformat()
        guideline = case.guideline
        if not ids:
            ids = plan_regimens(plan_case(case))
            if len(ids) < 2:
                planned = f"only {ids[0]}" if ids else "no regimen"
                raise CaseError(
                    "--input",
                    f"the plan for this case has {planned} and no alternative to compare; "
                    "name two or more regimen IDs, e.g. b12 compare UK-IM-NN US-FDA-CN",
                )
    try:
        when = date.fromisoformat(start_date) if start_date else _today()
    except ValueError:
        raise CaseError("--start", f"{start_date!r} is not an ISO date (YYYY-MM-DD) or 'today'") from None
    comparison = compare_regimens(when, ids, guideline)
    if as_json:
        _print_json(comparison_to_dict(comparison))
    else:
        print_comparison(comparison)


@guidelines_app.callback(invoke_without_command=True)
def guidelines_list(ctx: typer.Context, as_json: JsonOpt = False) -> None:
    """List every rule, regimen and threshold set with its sources."""
    if ctx.invoked_subcommand is not None:
        return
    from b12.services import rule_catalogue

    out = _console()

    entries = rule_catalogue()
    if as_json:
        _print_json(
            [
                {
                    "id": e.id,
                    "kind": e.kind,
                    "title": e.title,
                    "guidelines": list(e.guidelines),
                    "sources": list(e.sources),
                    "b12_own": e.b12_own,
                }
                for e in entries
            ]
        )
        return
    table = Table("ID", "kind", "title", "guidelines", "sources", title="b12 rules", title_justify="left")
    for e in entries:
        table.add_row(
            _t(e.id),
            _t(e.kind),
            _t(e.title + (" (b12 rule ID)" if e.b12_own else "")),
            _t(", ".join(e.guidelines)),
            _t(" ".join(e.sources) or "none"),
        )
    out.print(table)


@guidelines_app.command("show")
def guidelines_show(
    rule_id: Annotated[str, typer.Argument(help="A rule, regimen or threshold-set ID, e.g. UK-IM-NN.")],
    as_json: JsonOpt = False,
) -> None:
    """Show one rule with its full text and the title and address of each source."""
    from b12.domain.guidelines import sources
    from b12.services import rule_catalogue

    out = _console()

    entries = {e.id.upper(): e for e in rule_catalogue()}
    entry = entries.get(rule_id.upper())
    if entry is None:
        raise CaseError("ID", f"{rule_id!r} is not a rule b12 knows; 'b12 guidelines' lists them")
    known = sources()
    cited = [known[s] for s in entry.sources if s in known]
    if as_json:
        _print_json(
            {
                "id": entry.id,
                "kind": entry.kind,
                "title": entry.title,
                "detail": entry.detail,
                "guidelines": list(entry.guidelines),
                "b12_own": entry.b12_own,
                "sources": [{"id": s.id, "title": s.title, "url": s.url, "confidence": s.confidence} for s in cited],
            }
        )
        return
    out.print(_t(f"{entry.id} — {entry.title}", "bold"))
    out.print(_t(f"{entry.kind}; guidelines: {', '.join(entry.guidelines)}"))
    out.print(_t(entry.detail))
    if entry.b12_own:
        out.print(_t("This ID is b12's own: REFERENCE.md §11 names no rule for it.", "dim"))
    for s in cited:
        confidence = {"P": "primary", "S": "secondary", "W": "weak"}.get(s.confidence or "", "")
        # soft_wrap: never break an address across lines, whatever the width
        out.print(_t(f"  {s.id}{f' ({confidence})' if confidence else ''} {s.title} {s.url}"), soft_wrap=True)
    if not cited:
        out.print(_t("  No source: the message says what is missing; the clinician decides.", "yellow"))


def run_app(args: Sequence[str]) -> int:
    """Run the Typer app; usage errors and b12's own errors become one line on stderr and exit code 2."""
    from typer._click.exceptions import ClickException, NoArgsIsHelpError, UsageError

    def err(message: str) -> None:
        sys.stderr.write(" ".join(message.split()) + "\n")

    try:
        code = app(list(args), prog_name="b12", standalone_mode=False)
    except B12Error as error:
        err(f"b12: {error}")
        return EXIT_USAGE
    except typer.Exit as done:
        return int(done.exit_code)
    except typer.Abort:
        err("b12: aborted")
        return EXIT_USAGE
    except NoArgsIsHelpError as error:  # a bare `b12`: Typer has printed the help (Rich) or it is the message
        if error.format_message().strip():
            sys.stdout.write(error.format_message() + "\n")
        return error.exit_code
    except UsageError as error:  # click would print usage, a hint and the error: one line instead, as quick.py
        hint = f" (see '{error.ctx.command_path} --help')" if error.ctx else ""
        err(f"b12: {error.format_message()}{hint}")
        return error.exit_code
    except ClickException as error:
        err(f"b12: {error.format_message()}")
        return error.exit_code
    except Exception as error:  # anything unforeseen: one line, never a traceback
        err(f"b12: internal error ({type(error).__name__}: {error}); please report it")
        return EXIT_INTERNAL
    return code if isinstance(code, int) else EXIT_OK  # click returns the code of an exit (--help: 0)
