"""From a case to a plan: whether to treat, which regimen, the dated schedule, follow-ups and alerts.

``make_plan(case, guideline, thresholds)`` is a pure function of its inputs (the start date is in the
case). The selection of a regimen follows the guideline's text as far as REFERENCE.md could verify it;
each branch below quotes the line it enforces. Where the sources are silent (an oral dose for nitrous
oxide, an oral maintenance dose on the US label) the plan says so and leaves the choice to the clinician
rather than fill the gap. Nor does it fill the paediatric gap: a patient younger than 16 gets the adult plan with a
SCOPE-AGE warning that b12 holds no paediatric dose, never a guessed one.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import date, timedelta
from enum import StrEnum

from dateutil.relativedelta import relativedelta

from b12.domain.alerts import Alert, Severity, severity_order
from b12.domain.case import IRREVERSIBLE_CAUSES, MALABSORPTION_CAUSES, Case, Cause, Condition, Route
from b12.domain.guidelines import Guideline, find_regimen, find_rule, load_common
from b12.domain.labs import ADULT_FROM_AGE, Interpretation, Status
from b12.domain.regimen import Ending, IntervalUnit, Phase, PhaseKind, Product, Regimen
from b12.domain.schedule import PhaseTotals, Schedule, expand
from b12.domain.units import Strength, Syringe, dose_volume, parse_strength, parse_syringe, quantity

DISCLAIMER = (
    "b12 is decision support, not a prescriber: this plan comes from the guideline data named in it, "
    "every line cites its rule and sources, and a clinician decides on treatment."
)


class FollowUpKind(StrEnum):
    REVIEW = "review"
    LABS = "labs"
    MONITORING = "monitoring"


@dataclass(frozen=True, slots=True)
class FollowUp:
    date: date
    kind: FollowUpKind
    tests: tuple[str, ...]
    expect: str | None
    rule: str
    sources: tuple[str, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "sources", tuple(dict.fromkeys(self.sources)))


@dataclass(frozen=True, slots=True)
class Recommendation:
    treat: bool
    reason: str
    regimen: Regimen | None = None
    phases: tuple[Phase, ...] = ()
    lifelong: bool = False
    reconsider: str | None = None
    urgent_specialist_advice: bool = False
    blocked_products: tuple[Product, ...] = ()
    alternatives: tuple[str, ...] = ()
    route: Route | None = None  # set when treatment is decided but no regimen could be named
    scheduled: bool = True  # False while a safety rule (SAFE-COBALT) withholds the automatic schedule

    @property
    def product(self) -> Product | None:
        return self.phases[0].product if self.phases else None

    @property
    def first_route(self) -> Route | None:
        return self.phases[0].route if self.phases else self.route


@dataclass(frozen=True, slots=True)
class Plan:
    case: Case
    guideline: Guideline
    interpretation: Interpretation
    recommendation: Recommendation
    schedule: Schedule | None
    followups: tuple[FollowUp, ...]
    alerts: tuple[Alert, ...]
    rules_applied: tuple[str, ...]
    strength: Strength | None
    syringe: Syringe | None
    horizon_end: date
    switch_note: str


# --- choosing -----------------------------------------------------------------------------------------


@dataclass
class _Advice:
    """Alerts gathered while choosing, built from the rules' own words in the guideline data."""

    guideline: Guideline
    alerts: list[Alert]

    def add(self, rule_id: str, *, severity: Severity | None = None, extra: str = "") -> None:
        rule = find_rule(rule_id, self.guideline.id)
        message = f"{rule.message} {extra}".strip()
        self.alerts.append(Alert(rule.id, severity or rule.severity, message, rule.sources))


def _finding(interpretation: Interpretation, code: str) -> bool:
    return any(f.code == code for f in interpretation.findings)


def _decide_treatment(case: Case, interpretation: Interpretation, advice: _Advice) -> tuple[bool, str]:
    status = interpretation.status
    if case.preferences.treat is not None:
        advice.add("NOTE-TREAT-DECISION")
        return case.preferences.treat, "The clinician's decision recorded in the case."
    if status is Status.CONFIRMED:
        return True, "B12 deficiency confirmed by the threshold set."
    if status is Status.INDETERMINATE and _finding(interpretation, "raised_mma"):
        # DX-MMA: indeterminate B12 with a raised MMA supports functional deficiency (VIGNETTES V03).
        return True, "Indeterminate B12 with a raised MMA supports deficiency (DX-MMA)."
    if interpretation.strong_clinical_features:
        features = "; ".join(interpretation.strong_features)
        if status is Status.NOT_ASSESSABLE and Cause.NITROUS_OXIDE not in case.causes:
            return False, (
                f"Strong clinical features ({features}) but no interpretable B12 result: test now without waiting "
                "for a routine slot; the clinician may start treatment at once (set preferences.treat)."
            )
        # DX-DISCORD, BSH 2014: "discordance between test and strong clinical features → do not delay
        # treatment" [S17]; UK-N2O: start before results if toxicity is suspected [S97].
        return True, (
            f"Strong clinical features ({features}) with a result that does not confirm deficiency: do not delay "
            "treatment (DX-DISCORD); the clinician confirms the features are attributed to B12."
        )
    if status is Status.INDETERMINATE:
        return False, (
            "Indeterminate result: test MMA if symptoms are present (DX-MMA). The draft NICE wording allows "
            "treatment if deficiency is suspected, with or without MMA: set preferences.treat to plan it."
        )
    if status is Status.UNLIKELY:
        return False, "B12 deficiency unlikely: no B12 treatment; investigate other causes of the symptoms."
    return False, "No interpretable B12 result: test first (DX-TEST)."


def _lifelong(case: Case) -> tuple[bool, str | None]:
    # "Some causes of vitamin B12 deficiency are irreversible and therefore treatment is needed for life" [S3].
    if case.causes & IRREVERSIBLE_CAUSES:
        return True, None
    reasons: list[str] = []
    if Cause.DIET in case.causes:
        reasons.append("diet: stop once levels are normal and the diet has improved; vegans may need it for life [S21]")
    if case.causes & {Cause.METFORMIN, Cause.PPI, Cause.H2_ANTAGONIST}:
        reasons.append("medicine-related: continue while the medicine continues (MHRA: keep metformin) [S60][S16]")
    if Cause.COELIAC in case.causes:
        reasons.append("coeliac disease: reconsider once it is treated [S38][S16]")
    if Cause.CROHNS in case.causes:
        reasons.append("Crohn's disease: depends on the extent of ileal disease; reconsider with the specialist [S16]")
    if Cause.NITROUS_OXIDE in case.causes:
        reasons.append("nitrous oxide: reversible once exposure stops [S8]")
    if not reasons:
        reasons.append("cause unknown: continue and follow up; lifelong if the cause proves irreversible [S16]")
    return False, "Reconsider at review — " + "; ".join(
        reasons
    ) + ". Cause resolved → think about stopping or reducing frequency [S16]."


def _choose_uk(case: Case, interpretation: Interpretation, advice: _Advice) -> tuple[str | None, Route | None]:
    preference = case.preferences.route
    advice.add("NOTE-ROUTE")
    if case.neurological:
        # BNF: "with neurological involvement: 1 mg IM on alternate days until no further improvement" [S18].
        if preference in (Route.ORAL, Route.NASAL):
            advice.add(
                "NOTE-ROUTE",
                severity=Severity.WARNING,
                extra=f"A {preference} preference was recorded, "
                "but with neurological involvement the UK regimen is IM (BNF).",
            )
        return "UK-IM-NEURO", Route.IM
    if preference is Route.NASAL:
        advice.add(
            "NOTE-ROUTE",
            severity=Severity.WARNING,
            extra="No UK nasal regimen is in the sources read: planned IM.",
        )
    if Cause.NITROUS_OXIDE in case.causes:
        advice.add("UK-N2O")
        if preference is Route.ORAL:
            # Draft NG239 1.5.8: "Offer either intramuscular or oral … based on the person's preference" [S8],
            # with no oral dose: the clinician chooses it.
            advice.add(
                "UK-N2O",
                severity=Severity.WARNING,
                extra="The sources give no oral dose for "
                "nitrous-oxide-induced deficiency: b12 leaves the oral dose to the clinician.",
            )
            return None, Route.ORAL
        return "UK-IM-NN", Route.IM
    malabsorption = bool(case.causes & MALABSORPTION_CAUSES)
    diet_only = case.causes == {Cause.DIET}
    if preference is Route.ORAL:
        if case.causes & IRREVERSIBLE_CAUSES:
            # BSH (quoted by the PA Society): "arguments against oral initiation in severely deficient patients
            # with poor absorption (esp. PA)" [S18]; gastric and ileal surgery remove the same absorption.
            advice.add("UK-ORAL-PA")
        # UK-ORAL-DIET: diet-related deficiency, 50–150 micrograms a day + dietary advice [S14][S15]; otherwise
        # UK-ORAL-MAL: "malabsorption: at least 1 mg a day" [S4].
        if diet_only:
            advice.add("UK-ORAL-DIET")
            return "UK-ORAL-DIET", Route.ORAL
        return "UK-ORAL-MAL", Route.ORAL
    if preference is Route.IM or not case.causes:
        return "UK-IM-NN", Route.IM
    if diet_only:
        advice.add("UK-ORAL-DIET")
        return "UK-ORAL-DIET", Route.ORAL
    if malabsorption and not case.causes & (IRREVERSIBLE_CAUSES | {Cause.CROHNS, Cause.UNKNOWN}):
        # Medicine-related or coeliac malabsorption: oral ≥1 mg/day is acceptable (VIGNETTES V03, V07);
        # IM per BNF is the alternative.
        return "UK-ORAL-MAL", Route.ORAL
    return "UK-IM-NN", Route.IM


def _choose_us_label(case: Case, advice: _Advice) -> tuple[str | None, Route | None]:
    if case.preferences.route in (Route.ORAL, Route.NASAL):
        # Label, pernicious anaemia: "the oral form is not dependable" [S37]; the label regimens are injected.
        advice.add("US-FDA-ORAL-PA" if Cause.AUTOIMMUNE_GASTRITIS in case.causes else "US-LABEL-INJECTED")
    if case.neurological:
        advice.add("US-FDA-OH-NEURO")
    return "US-FDA-CN", Route.IM


def _choose_us_practice(case: Case, advice: _Advice) -> tuple[str | None, Route | None]:
    preference = case.preferences.route
    if case.neurological:
        # AAFP: "IM … consider in severe deficiency or severe neurologic symptoms" [S50]; Nascobal is for
        # patients "with no nervous-system involvement" [S47].
        advice.add("US-AAFP-IM")
        if preference is Route.NASAL:
            advice.add("US-NASAL-NEURO")
        return "US-STABLER", Route.IM
    if preference is Route.NASAL:
        return "US-NASAL", Route.IM
    if preference is Route.IM:
        return "US-STABLER", Route.IM
    if Cause.BARIATRIC_SURGERY in case.causes:
        # AAFP: "Post-bariatric: 1 mg oral daily indefinitely" [S50].
        return "US-AAFP-BARIATRIC", Route.ORAL
    if preference is None and Cause.AUTOIMMUNE_GASTRITIS in case.causes:
        advice.add("US-AAFP-IM")
        return "US-STABLER", Route.IM
    return "US-AAFP", Route.ORAL


_ALTERNATIVES: dict[str, tuple[str, ...]] = {
    "UK-IM-NN": ("UK-ORAL-MAL", "UK-CN-NN"),
    "UK-IM-NEURO": ("UK-CN-NEURO",),
    "UK-ORAL-MAL": ("UK-IM-NN",),
    "UK-ORAL-DIET": ("UK-IM-NN",),
    "UK-TA-LEBER": (),
    "US-FDA-CN": ("US-STABLER", "US-AAFP"),
    "US-FDA-OH": (),
    "US-STABLER": ("US-FDA-CN", "US-AAFP", "US-NASAL"),
    "US-AAFP": ("US-STABLER", "US-FDA-CN"),
    "US-AAFP-BARIATRIC": ("US-STABLER",),
    "US-NASAL": ("US-STABLER",),
}


def _with_maintenance_interval(phases: tuple[Phase, ...], months: int | None, advice: _Advice) -> tuple[Phase, ...]:
    """Apply a clinician's chosen maintenance interval; outside the label range it is flagged, not refused."""
    if months is None:
        return phases
    if not any(p.kind is PhaseKind.MAINTENANCE and p.frequency.unit is IntervalUnit.MONTH for p in phases):
        advice.add(
            phases[-1].rule,
            severity=Severity.WARNING,
            extra=f"A maintenance interval of {months} months was asked for, but this plan has no monthly "
            "maintenance phase: it was not applied.",
        )
        return phases
    adjusted: list[Phase] = []
    for phase in phases:
        frequency = phase.frequency
        if phase.kind is not PhaseKind.MAINTENANCE or frequency.unit is not IntervalUnit.MONTH:
            adjusted.append(phase)
            continue
        label = frequency.every_range or None
        within = months in label if label else months == frequency.every
        if not within:
            # V30: "allow shortening interval to 2 months (UK label range) and flag for clinician review if
            # shorter is requested"; FU-UK: increase frequency "in line with product information" [S16].
            advice.add(
                phase.rule,
                severity=Severity.WARNING,
                extra=(
                    f"Maintenance every {months} months is outside the label's {label or frequency.every} months: "
                    "a clinician must review and confirm this interval."
                ),
            )
        adjusted.append(
            replace(phase, frequency=replace(frequency, every=months, every_range=label if within else None))
        )
    return tuple(adjusted)


def recommend(case: Case, interpretation: Interpretation, guideline: Guideline, advice: _Advice) -> Recommendation:
    treat, reason = _decide_treatment(case, interpretation, advice)
    blocked: list[Product] = []
    leber = bool(case.conditions & {Condition.LEBER, Condition.TOBACCO_AMBLYOPIA})
    if leber:
        # SAFE-LEBER: "avoid cyanocobalamin in Leber's / toxic amblyopia; use hydroxocobalamin" [S38][S28][S23].
        advice.add("SAFE-LEBER")
        blocked.append(Product.CYANOCOBALAMIN)
    if Condition.COBALT_ALLERGY in case.conditions:
        overridden = "SAFE-COBALT" in case.preferences.overrides
        advice.add(
            "SAFE-COBALT",
            severity=Severity.WARNING if overridden else None,
            extra="Overridden by the clinician: a schedule is planned." if overridden else "",
        )
    if not treat:
        if case.neurological:
            advice.add("NEURO-URGENT")
        return Recommendation(
            treat=False, reason=reason, blocked_products=tuple(blocked), urgent_specialist_advice=case.neurological
        )

    urgent = case.neurological
    if urgent:
        advice.add("NEURO-URGENT")
        advice.add("SAFE-3MO")
    lifelong, reconsider = _lifelong(case)
    regimen_id: str | None
    route: Route | None
    if leber:
        regimen_id, route = ("UK-TA-LEBER" if guideline.id == "uk" else "US-FDA-OH"), Route.IM
        if guideline.id != "uk":
            advice.add("US-SUPPLY-OH")
            if case.neurological:
                # Hydroxocobalamin label: "considerably higher doses may be indicated" with neurologic disease [S42].
                advice.add("US-FDA-OH-NEURO")
    elif guideline.id == "uk":
        regimen_id, route = _choose_uk(case, interpretation, advice)
    elif guideline.id == "us-label":
        regimen_id, route = _choose_us_label(case, advice)
    else:
        regimen_id, route = _choose_us_practice(case, advice)
    if Cause.METFORMIN in case.causes:
        advice.add("MED-MET")

    if regimen_id is None:
        return Recommendation(
            treat=True,
            reason=reason,
            lifelong=lifelong,
            reconsider=reconsider,
            urgent_specialist_advice=urgent,
            blocked_products=tuple(blocked),
            alternatives=("UK-IM-NN",),
            route=route,
        )
    regimen = find_regimen(regimen_id, guideline.id)[1]
    phases = regimen.phases
    if regimen.id == "US-FDA-CN" and not case.causes & MALABSORPTION_CAUSES and Cause.DIET in case.causes:
        # Cyanocobalamin label: "Patients with normal intestinal absorption: … chronic treatment should be with
        # an oral B12 preparation" [S37] — no oral dose is given, so the injected maintenance phase is not
        # planned. The hydroxocobalamin label [S42] says no such thing, and the US-FDA-OH regimen is chosen for
        # Leber's disease, where cyanocobalamin is blocked by any route (SAFE-LEBER): its maintenance stays.
        advice.add("US-FDA-ORAL-CHRONIC")
        phases = tuple(p for p in phases if p.kind is PhaseKind.LOADING)
    phases = _with_maintenance_interval(phases, case.preferences.maintenance_interval_months, advice)
    alternatives = tuple(
        a
        for a in _ALTERNATIVES.get(regimen_id, ())
        if a in guideline.regimens and not (leber and guideline.regimens[a].product is Product.CYANOCOBALAMIN)
    )
    scheduled = Condition.COBALT_ALLERGY not in case.conditions or "SAFE-COBALT" in case.preferences.overrides
    return Recommendation(
        treat=True,
        reason=reason,
        regimen=regimen,
        phases=phases,
        lifelong=lifelong,
        reconsider=reconsider,
        urgent_specialist_advice=urgent,
        blocked_products=tuple(blocked),
        alternatives=alternatives,
        scheduled=scheduled,
    )


def _safety(case: Case, interpretation: Interpretation, recommendation: Recommendation, advice: _Advice) -> None:
    products = {p.product for p in recommendation.phases}
    injected = any(p.injected for p in recommendation.phases)
    loading = any(p.kind is PhaseKind.LOADING and p.injected for p in recommendation.phases)
    if recommendation.treat and loading and _finding(interpretation, "anaemia"):
        # SAFE-K: "Hypokalemia and sudden death may occur in severe megaloblastic anemia which is treated
        # intensely" [S38]; the sources do not define "severe", so any anaemia with intensive loading fires.
        advice.add("SAFE-K")
    if _finding(interpretation, "folate_deficiency") or case.patient.pregnant:
        # SAFE-FOLATE: folic acid >0.1 mg/day masks B12 deficiency; treat B12 first [S40][S81].
        advice.add("SAFE-FOLATE")
    if injected and (Product.CYANOCOBALAMIN in products or case.guideline != "uk"):
        advice.add("SAFE-IV")
    hydroxocobalamin_injected = any(p.injected and p.product is Product.HYDROXOCOBALAMIN for p in recommendation.phases)
    if case.patient.pregnant and recommendation.treat and hydroxocobalamin_injected:
        # SAFE-PREG-OH: the UK hydroxocobalamin SmPC's "not for megaloblastic anaemia of pregnancy unless
        # B12 deficiency demonstrated" [S26]; it is that product's warning, so it fires for that product.
        demonstrated = interpretation.status is Status.CONFIRMED or _finding(interpretation, "raised_mma")
        advice.add(
            "SAFE-PREG-OH",
            severity=Severity.INFO if demonstrated else Severity.WARNING,
            extra="Deficiency has been demonstrated here."
            if demonstrated
            else "Deficiency has not been demonstrated by these results.",
        )
    if Condition.RENAL_IMPAIRMENT in case.conditions and injected and case.guideline != "uk":
        advice.add("SAFE-ALUMINIUM")
    if Condition.ANTICOAGULANT in case.conditions and injected:
        advice.add("NOTE-ANTICOAG")


def _age_scope(case: Case, guideline: Guideline, advice: _Advice) -> None:
    """SCOPE-AGE in the words of the guideline in use; the plan itself is neither changed nor blocked."""
    age = case.patient.age
    if age is None or age >= ADULT_FROM_AGE:
        return
    rule = find_rule("SCOPE-AGE", guideline.id)
    adult = "Any schedule shown is the adult one: a clinician decides on treatment and dose."
    if guideline.id == "uk":
        # NICE NG239 "Covers people aged 16+" [S1] (REFERENCE §1.1); REFERENCE §2 holds no paediatric BNF dose.
        message = (
            f"Patient aged {age} (under 16): NICE NG239, which b12's UK plan follows, covers people aged 16 and "
            f"over, and b12's UK regimens (BNF/SmPC doses) hold no paediatric dose. {adult}"
        )
        sources: tuple[str, ...] = ("S1",)
    else:
        # The US hydroxocobalamin label's "Paediatric (summary): total 1–5 mg over ≥2 weeks in 100 mcg doses;
        # maintenance 30–50 mcg every 4 weeks" [S42][S45] (REFERENCE §3.2) is not implemented. REFERENCE gives no
        # US age bound, so the 16 of NG239 [S1] is b12's choice here, and the message says so.
        message = (
            f"Patient aged {age} (under 16): b12's regimens for this guideline ({guideline.title}) are adult "
            "ones, and the paediatric dosing summarised for the US hydroxocobalamin label is not implemented in b12. "
            f"{adult} The US sources b12 holds set no age limit: b12 warns below 16, the age from which NICE "
            "NG239 applies (people aged 16 and over), under every guideline (b12's choice)."
        )
        sources = ("S42", "S45", "S1")
    advice.alerts.append(Alert(rule.id, rule.severity, message, sources))


# --- follow-up ----------------------------------------------------------------------------------------


def _followups(
    case: Case,
    plan_guideline: Guideline,
    recommendation: Recommendation,
    interpretation: Interpretation,
    schedule: Schedule | None,
    horizon_end: date,
    alerts: Sequence[Alert],
) -> list[FollowUp]:
    start = case.start
    items: list[FollowUp] = []
    if not recommendation.treat:
        return items
    progress = load_common().progress
    neuro_text = progress["neuro"]["text"] if case.neurological else ""
    neuro_sources = tuple(progress["neuro"]["sources"]) if case.neurological else ()

    followup = plan_guideline.settings.get("followup")
    if followup:
        # FU-UK: "Review 3 months after starting treatment (1 month if pregnant or breastfeeding)" [S6].
        months = (
            followup["review_months_pregnant_or_breastfeeding"]
            if case.patient.pregnant or case.patient.breastfeeding
            else followup["review_months"]
        )
        open_phase = any(p.ending is Ending.CLINICAL for p in recommendation.phases)
        k = 1
        while (when := start + relativedelta(months=months * k)) <= horizon_end:
            expect = followup["expect"]
            if open_phase:
                expect = (
                    "Open-ended phase: assess for further improvement at each dose and at this review; "
                    "when there is none, the clinician ends it and maintenance begins. " + expect
                )
            items.append(
                FollowUp(
                    when,
                    FollowUpKind.REVIEW,
                    ("symptoms", "full blood count"),
                    f"{expect} {neuro_text}".strip(),
                    followup["rule"],
                    tuple(followup["expect_sources"]) + neuro_sources,
                )
            )
            # Further reviews are derived, not sourced: they repeat the FU-UK interval only while a phase
            # that ends on clinical judgement is still open.
            if not open_phase:
                break
            k += 1

    haematological = _finding(interpretation, "anaemia") or _finding(interpretation, "macrocytosis")
    if haematological:
        no_response = progress["no_response"]
        for key, tests in (
            ("hemoglobin", ("hemoglobin",)),
            ("reticulocytes", ("reticulocytes",)),
            ("counts", ("hemoglobin", "mcv")),
        ):
            entry = progress[key]
            when = start + timedelta(days=int(entry["day"]))
            if when <= horizon_end:
                expect = entry["text"] + ("" if key == "counts" else " " + no_response["text"])
                items.append(
                    FollowUp(
                        when,
                        FollowUpKind.LABS,
                        tests,
                        expect,
                        "FU-PROGRESS",
                        tuple(entry["sources"]) + tuple(no_response["sources"]),
                    )
                )

    regimen = recommendation.regimen
    # The label's monitoring travels with the label's regimen, also when another guideline borrows it (us-practice
    # plans US-FDA-OH for Leber's disease): "Serum potassium closely for first 48 h" is on the hydroxocobalamin
    # label itself [S42].
    monitoring = (
        find_regimen(regimen.id, plan_guideline.id)[0].settings.get("monitoring") if regimen is not None else None
    )
    if monitoring and regimen is not None and regimen.id in ("US-FDA-CN", "US-FDA-OH"):
        rule, sources = regimen.id, tuple(monitoring["sources"])
        items.append(
            FollowUp(
                start,
                FollowUpKind.MONITORING,
                ("hematocrit", "reticulocytes", "b12_total", "folate", "iron"),
                monitoring["baseline"],
                rule,
                sources,
            )
        )
        items.append(
            FollowUp(
                start + timedelta(days=1),
                FollowUpKind.MONITORING,
                ("potassium",),
                monitoring["potassium"],
                rule,
                sources,
            )
        )
        # Label: "Hct and reticulocytes repeated daily from day 5 to day 7" [S40]; day 1 is the start date.
        for day in (5, 6, 7):
            items.append(
                FollowUp(
                    start + timedelta(days=day - 1),
                    FollowUpKind.MONITORING,
                    ("hematocrit", "reticulocytes"),
                    monitoring["hct_retic"],
                    rule,
                    sources,
                )
            )
    elif any(a.rule == "SAFE-K" for a in alerts):
        rule_k = plan_guideline.rule("SAFE-K")
        items.append(
            FollowUp(
                start + timedelta(days=1),
                FollowUpKind.MONITORING,
                ("potassium",),
                "Potassium within the first 48 hours of intensive treatment.",
                "SAFE-K",
                rule_k.sources,
            )
        )

    if schedule is not None and regimen is not None:
        for phase in recommendation.phases:
            if phase.gate:
                first = next((d.date for d in schedule.doses if d.phase == phase.name), None)
                if first is not None:
                    items.append(
                        FollowUp(
                            first - timedelta(days=1),
                            FollowUpKind.REVIEW,
                            ("reticulocytes",),
                            f"Before the '{phase.name}' phase: continue {phase.gate}.",
                            phase.rule,
                            phase.sources,
                        )
                    )

    nasal = plan_guideline.settings.get("nasal_monitoring")
    if nasal and schedule is not None and any(p.route is Route.NASAL for p in recommendation.phases):
        first_nasal = next((d.date for d in schedule.doses if d.route is Route.NASAL), None)
        if first_nasal is not None:
            when = first_nasal + relativedelta(months=int(nasal["first_months"]))
            k = 0
            while when <= horizon_end:
                items.append(
                    FollowUp(
                        when,
                        FollowUpKind.LABS,
                        ("b12_total", "full blood count"),
                        nasal["text"],
                        nasal["rule"],
                        tuple(nasal["sources"]),
                    )
                )
                k += 1
                when = first_nasal + relativedelta(months=int(nasal["first_months"]) + int(nasal["every_months"]) * k)

    if regimen is not None and regimen.id == "UK-ORAL-MAL" and Cause.AUTOIMMUNE_GASTRITIS in case.causes:
        # Medscape UK (oral, PA): "monitor blood at least every 3 months for first 18 months, then annually" [S31].
        checks = [3 * k for k in range(1, 7)] + list(range(30, case.horizon_months + 1, 12))
        for month in checks:
            when = start + relativedelta(months=month)
            if when <= horizon_end:
                items.append(
                    FollowUp(
                        when,
                        FollowUpKind.LABS,
                        ("full blood count", "b12_total"),
                        "Oral treatment in pernicious anaemia: blood counts every 3 months for 18 months, then yearly.",
                        "UK-ORAL-PA",
                        ("S31",),
                    )
                )
    return sorted(items, key=lambda f: (f.date, f.kind.value))


# --- assembling ---------------------------------------------------------------------------------------


def _volume_for(
    strength: Strength, syringe: Syringe | None, warnings: list[str]
) -> Callable[[float], tuple[float, float | None]]:
    # No cache here: units.dose_volume keeps the exact arithmetic of each (dose, strength, syringe) already.
    def volume(dose_mg: float) -> tuple[float, float | None]:
        result = dose_volume(quantity(dose_mg, "mg"), strength, syringe)
        warnings.extend(w for w in result.warnings if w not in warnings)
        return result.volume_ml, result.syringe_units

    return volume


def _switch_note(recommendation: Recommendation, schedule: Schedule | None) -> str:
    if not recommendation.treat:
        return "No treatment planned."
    if schedule is None:
        return "No schedule: a clinician's decision is needed first (see the alerts)."
    loading = [p for p in recommendation.phases if p.kind is PhaseKind.LOADING]
    if not loading:
        return "No loading phase: the regimen starts at its maintenance dose."
    open_loading = next((p for p in loading if p.ending is Ending.CLINICAL), None)
    if open_loading is not None:
        after = [p.text for p in recommendation.phases if p.kind is PhaseKind.MAINTENANCE]
        return (
            f"Loading continues {open_loading.until} — a clinician decides when it ends, so maintenance "
            f"({'; '.join(after) or 'not planned'}) is not dated; doses shown up to the horizon are provisional."
        )
    if schedule.maintenance_starts is None:
        return (
            f"Loading ends on {schedule.loading_ends}; maintenance is not planned by this guideline (see the alerts)."
        )
    return f"Loading ends on {schedule.loading_ends}; maintenance starts on {schedule.maintenance_starts}."


def _dedupe(alerts: Iterable[Alert]) -> tuple[Alert, ...]:
    seen: dict[tuple[str, str], Alert] = {}
    for alert in alerts:
        seen.setdefault((alert.rule, alert.message), alert)
    return tuple(sorted(seen.values(), key=lambda a: (severity_order(a), a.rule)))


def make_plan(case: Case, guideline: Guideline, interpretation: Interpretation) -> Plan:
    """The whole plan for a case, from its interpretation against the chosen threshold set."""
    advice = _Advice(guideline, [])
    recommendation = recommend(case, interpretation, guideline, advice)
    _safety(case, interpretation, recommendation, advice)
    _age_scope(case, guideline, advice)
    advice.add("NOTE-DECISION")
    horizon_end = case.start + relativedelta(months=case.horizon_months)

    strength: Strength | None = None
    syringe: Syringe | None = None
    schedule: Schedule | None = None
    volume_warnings: list[str] = []
    if recommendation.treat and recommendation.phases and recommendation.scheduled:
        injected = [p for p in recommendation.phases if p.injected]
        volume_for = None
        if injected:
            strength = parse_strength(case.strength or guideline.strengths[injected[0].product])
            syringe = parse_syringe(case.syringe) if case.syringe else None
            volume_for = _volume_for(strength, syringe, volume_warnings)
        schedule = expand(recommendation.phases, case.start, horizon_end, volume_for)
    for warning in volume_warnings:
        advice.add("DOSE-VOLUME", extra=warning)

    alerts = _dedupe([*interpretation.alerts, *advice.alerts])
    followups = _followups(case, guideline, recommendation, interpretation, schedule, horizon_end, alerts)
    rules = {
        *interpretation.rules_applied,
        *(p.rule for p in recommendation.phases),
        *(a.rule for a in alerts),
        *(f.rule for f in followups),
    }
    if (
        recommendation.regimen is not None
        and recommendation.lifelong
        and case.causes & {Cause.GASTRECTOMY, Cause.ILEAL_RESECTION, Cause.BARIATRIC_SURGERY}
        and guideline.id == "uk"
    ):
        # UK-PROPH: "resulting from gastrectomy, ileal resection, certain malabsorption states …: 1000
        # micrograms every two or three months" [S23] is the basis of lifelong maintenance after surgery.
        rules.add("UK-PROPH")
    return Plan(
        case=case,
        guideline=guideline,
        interpretation=interpretation,
        recommendation=recommendation,
        schedule=schedule,
        followups=tuple(followups),
        alerts=alerts,
        rules_applied=tuple(sorted(rules)),
        strength=strength,
        syringe=syringe,
        horizon_end=horizon_end,
        switch_note=_switch_note(recommendation, schedule),
    )


# --- comparing ----------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RetainedEstimate:
    """Estimated mg retained (dose × (1 − 72-h urinary loss)); a range where sources differ."""

    low_mg: float
    high_mg: float
    doses_counted: int
    doses_without_figure: int


@dataclass(frozen=True, slots=True)
class ComparisonRow:
    guideline: Guideline
    regimen: Regimen
    first_8_weeks: PhaseTotals
    first_year: PhaseTotals
    loading_ends: date | None
    maintenance_starts: date | None
    open_ended: bool
    retained_8_weeks: RetainedEstimate
    retained_first_year: RetainedEstimate


@dataclass(frozen=True, slots=True)
class Comparison:
    start: date
    rows: tuple[ComparisonRow, ...]
    retention_caveat: str
    retention_sources: tuple[str, ...]


def _retained(schedule: Schedule, first: date, last: date) -> RetainedEstimate:
    figures = load_common().retention
    low = high = 0.0
    counted = missing = 0
    for dose in schedule.doses:
        if not first <= dose.date <= last:
            continue
        matches = [
            f
            for f in figures
            if dose.route is Route.IM and f.product is dose.product and abs(f.dose_mg - dose.dose_mg) < 1e-9
        ]
        if not matches:
            missing += 1
            continue
        counted += 1
        kept = [dose.dose_mg * (1 - f.loss) for f in matches]
        low += min(kept)
        high += max(kept)
    return RetainedEstimate(round(low, 4), round(high, 4), counted, missing)


def compare(start: date, regimens: Sequence[tuple[Guideline, Regimen]]) -> Comparison:
    """Regimens side by side over the same first year from the same start date."""
    year_end = start + relativedelta(years=1) - timedelta(days=1)
    weeks_end = start + timedelta(weeks=8) - timedelta(days=1)
    rows = []
    for guideline, regimen in regimens:
        schedule = expand(regimen.phases, start, year_end)
        rows.append(
            ComparisonRow(
                guideline=guideline,
                regimen=regimen,
                first_8_weeks=schedule.in_window(start, weeks_end),
                first_year=schedule.in_window(start, year_end),
                loading_ends=schedule.loading_ends,
                maintenance_starts=schedule.maintenance_starts,
                open_ended=any(p.ending is Ending.CLINICAL for p in regimen.phases),
                retained_8_weeks=_retained(schedule, start, weeks_end),
                retained_first_year=_retained(schedule, start, year_end),
            )
        )
    common = load_common()
    return Comparison(start, tuple(rows), common.retention_caveat, common.retention_sources)
