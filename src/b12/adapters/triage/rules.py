"""The triage, written once as ibis expressions that run unchanged on DuckDB and on PySpark.

Three steps, each a pure function of ibis tables (no engine is named here):

- :func:`normalise_observations`, :func:`normalise_administrations`, :func:`normalise_attributes` read
  the raw text columns (``readers.py``) into typed rows: the unit is matched against the unit vocabulary
  of ``units.toml`` and the value converted with its factors (``vocabulary.py``), and every row that
  cannot be read gets a ``reason``: such rows are written to the rejects file, never dropped.
- :func:`triage` takes each patient's latest result per analyte, bands B12 against the threshold set
  (CASE expressions generated from the set's intervals, bounds and closedness as written in its file),
  and derives status, findings, next tests, flags, a priority and one suggested action, each citing a
  rule ID.
- :func:`rejects` gathers the rows that could not be read, with their reason.

The definitions follow :func:`b12.domain.labs.interpret` for one patient (the tests check a sample of
patients against it): the latest result per analyte; a B12 sample taken 0–14 days after the last
injection before it is not classified (DX-RECENT-INJ); the more severe of total and active B12 is the
status (DX-TWO-TESTS). What the triage adds (overdue, long-term replacement, priority, action) is
defined in ``docs/triage.md``; those are b12's choices, built on the guideline data.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

import ibis
import ibis.expr.types as ir
import pyarrow as pa
from dateutil.relativedelta import relativedelta

from b12.adapters.triage.vocabulary import B12_ANALYTES, NAME_SEPARATOR_PATTERN, UNIT_SPACE_PATTERN
from b12.domain.analytes import Analyte
from b12.domain.case import NEUROLOGICAL_SYMPTOMS, Cause, Route, Symptom
from b12.domain.guidelines import Guideline
from b12.domain.guidelines.thresholds import Status, ThresholdSet
from b12.domain.labs import (
    ANAEMIA_HB_BELOW_G_L_MEN,
    ANAEMIA_HB_BELOW_G_L_PREGNANT,
    ANAEMIA_HB_BELOW_G_L_WOMEN,
    DEFAULT_MCV_CUTOFF_FL,
    FOLATE_DEFICIENT_BELOW_NMOL_L,
    FOLATE_INDETERMINATE_UP_TO_NMOL_L,
    RECENT_INJECTION_DAYS,
    STABLER_HCY_NORMAL_BELOW_UMOL_L,
    STABLER_MMA_NORMAL_BELOW_NMOL_L,
)
from b12.domain.regimen import IntervalUnit, PhaseKind

# Raw columns, all text, as the readers deliver them.
OBSERVATION_COLUMNS = ("patient_id", "date", "code", "test", "value", "unit", "upper_limit")
ADMINISTRATION_COLUMNS = ("patient_id", "date", "dose")
ATTRIBUTE_COLUMNS = ("patient_id", "sex", "pregnant", "causes", "symptoms", "long_term_replacement")

# Analytes with a value, unit and date column in the output (potassium and reticulocytes are read and
# counted, but no triage rule uses them).
REPORTED = (
    Analyte.B12_TOTAL,
    Analyte.B12_ACTIVE,
    Analyte.MMA,
    Analyte.HOMOCYSTEINE,
    Analyte.HEMOGLOBIN,
    Analyte.MCV,
    Analyte.FOLATE,
)

PRIORITY_LABELS = {1: "urgent", 2: "high", 3: "routine", 4: "none"}

_TRUE = ("true", "yes", "y", "1", "t")


class Reason:
    """Why a row is rejected (the ``reason`` column of the rejects file)."""

    MISSING_PATIENT = "missing patient id"
    UNKNOWN_TEST = "unknown test (neither a LOINC code nor a test name b12 knows)"
    NON_NUMERIC = "non-numeric value"
    NOT_POSITIVE = "value is not a finite number above zero"
    UNKNOWN_UNIT = "unknown unit (not in b12's unit vocabulary)"
    WRONG_UNIT = "unit cannot be converted for this test"
    BAD_DATE = "missing or unreadable date (ISO YYYY-MM-DD expected)"
    AFTER_AS_OF = "administration dated after --as-of"
    MALE_PREGNANT = "recorded as male and pregnant"
    DUPLICATE_PATIENT = "duplicate patient id (one row per patient is used)"
    NOT_OBSERVATION = "not a FHIR Observation"
    BAD_JSON = "not valid JSON"


@dataclass(frozen=True, slots=True)
class RuleData:
    """Everything the expression needs that is not a table: the set, the guideline's intervals, as-of."""

    thresholds: ThresholdSet
    as_of: date
    maintenance_months: int  # the guideline's longest IM maintenance interval
    maintenance_rule: str  # the regimen rule that has it
    review_months: int | None  # FU-UK: review after starting treatment
    review_months_pregnant: int | None

    @property
    def injection_due_before(self) -> date:
        """Last injection before this date -> overdue (more than the longest interval before as-of)."""
        return self.as_of - relativedelta(months=self.maintenance_months)

    def review_due_before(self, pregnant: bool) -> date | None:
        months = self.review_months_pregnant if pregnant else self.review_months
        return None if months is None else self.as_of - relativedelta(months=months)

    @property
    def established_months(self) -> int:
        """Treatment is 'established' once past the first review (FU-UK), else the maintenance interval."""
        return self.review_months or self.maintenance_months


def rule_data(thresholds: ThresholdSet, guideline: Guideline, as_of: date) -> RuleData:
    """Read the intervals of ``guideline``: its longest IM maintenance interval and its review times."""
    longest: tuple[float, str] | None = None
    for regimen in guideline.regimens.values():
        for phase in regimen.phases:
            frequency = phase.frequency
            if phase.kind is not PhaseKind.MAINTENANCE or phase.route is not Route.IM:
                continue
            if frequency.unit is not IntervalUnit.MONTH or frequency.times_per_week:
                continue
            months = frequency.every_range.high if frequency.every_range else float(frequency.every)
            if longest is None or months > longest[0]:
                longest = (months, phase.rule)
    if longest is None:  # no monthly IM maintenance in the guideline: fall back to the UK one
        raise ValueError(f"guideline {guideline.id!r} has no monthly IM maintenance interval")
    followup = guideline.settings.get("followup", {})
    review = followup.get("review_months")
    review_pregnant = followup.get("review_months_pregnant_or_breastfeeding", review)
    return RuleData(
        thresholds=thresholds,
        as_of=as_of,
        maintenance_months=int(longest[0]),
        maintenance_rule=longest[1],
        review_months=None if review is None else int(review),
        review_months_pregnant=None if review_pregnant is None else int(review_pregnant),
    )


# --------------------------------------------------------------------------------------------------
# Normalisation


def _text(column: ir.Value) -> ir.StringValue:
    """Trimmed text, NULL when empty."""
    return column.cast("string").strip().nullif("")


def _iso_date(text: ir.StringValue) -> ir.DateValue:
    # "YYYY-MM-DD" at the start, checked with LIKE before the cast, so that both engines read the same
    # strings as dates (each would accept its own lenient forms such as "2024-1-5").
    return ibis.ifelse(text.like("____-__-__%"), text.substr(0, 10), ibis.null("string")).try_cast("date")


def normalise_observations(raw: ir.Table, units: ir.Table, analytes: ir.Table, conversions: ir.Table) -> ir.Table:
    """One typed row per raw row, with ``reason`` set when it cannot be used."""
    t = raw.select(
        patient_id=_text(raw.patient_id),
        raw_date=_text(raw.date),
        raw_code=_text(raw.code),
        raw_test=_text(raw.test),
        raw_value=_text(raw.value),
        raw_unit=_text(raw.unit),
        raw_upper=_text(raw.upper_limit),
        problem=_text(raw.problem) if "problem" in raw.columns else ibis.null("string"),
    )
    t = t.mutate(
        date=_iso_date(t.raw_date),
        original_value=t.raw_value.try_cast("float64"),
        upper=t.raw_upper.try_cast("float64"),
        unit_key=t.raw_unit.fill_null(""),
        code_key=t.raw_code.fill_null(""),
        test_key=t.raw_test.fill_null(""),
    )
    # Units and test names are keyed once per distinct spelling, not once per row.
    seen_units = t.select("unit_key").distinct()
    seen_units = seen_units.mutate(exact_=seen_units.unit_key.re_replace(UNIT_SPACE_PATTERN, ""))
    seen_units = seen_units.mutate(folded_=seen_units.exact_.lower())
    exact = units.filter(units.kind == "exact").select(exact_key_=units.key, exact_symbol=units.symbol)
    folded = units.filter(units.kind == "folded").select(folded_key_=units.key, folded_symbol=units.symbol)
    seen_units = seen_units.left_join(exact, seen_units.exact_ == exact.exact_key_).left_join(
        folded, seen_units.folded_ == folded.folded_key_
    )
    seen_units = seen_units.select(
        unit_key_=seen_units.unit_key, symbol=seen_units.exact_symbol.fill_null(seen_units.folded_symbol)
    ).view()
    seen_tests = t.select("code_key", "test_key").distinct()
    seen_tests = seen_tests.mutate(name_=seen_tests.test_key.re_replace(NAME_SEPARATOR_PATTERN, " ").strip().lower())
    by_code = analytes.filter(analytes.kind == "loinc").select(code_key_=analytes.key, code_analyte=analytes.analyte)
    by_name = analytes.filter(analytes.kind == "name").select(name_key_=analytes.key, name_analyte=analytes.analyte)
    seen_tests = seen_tests.left_join(by_code, seen_tests.code_key == by_code.code_key_).left_join(
        by_name, seen_tests.name_ == by_name.name_key_
    )
    seen_tests = seen_tests.select(
        code_key_=seen_tests.code_key,
        test_key_=seen_tests.test_key,
        analyte=seen_tests.code_analyte.fill_null(seen_tests.name_analyte),
    ).view()
    t = t.view()
    t = t.left_join(seen_units, t.unit_key == seen_units.unit_key_).left_join(
        seen_tests, (t.code_key == seen_tests.code_key_) & (t.test_key == seen_tests.test_key_)
    )
    t = t.drop("unit_key_", "code_key_", "test_key_")
    c = conversions
    t = t.view()
    t = t.left_join(c, (t.analyte == c.analyte) & (t.symbol == c.symbol))
    t = t.mutate(
        value=ibis.ifelse(t.same_unit, t.original_value, (t.original_value * t.factor).round(6)),
    )
    reason = ibis.cases(
        (t.problem.notnull(), t.problem),
        (t.patient_id.isnull(), Reason.MISSING_PATIENT),
        (t.analyte.isnull(), Reason.UNKNOWN_TEST),
        (t.original_value.isnull(), Reason.NON_NUMERIC),
        (t.original_value.isnan() | t.original_value.isinf() | (t.original_value <= 0), Reason.NOT_POSITIVE),
        (t.symbol.isnull(), Reason.UNKNOWN_UNIT),
        (t.target.isnull(), Reason.WRONG_UNIT),
        (t.date.isnull(), Reason.BAD_DATE),
        else_=ibis.null("string"),
    )
    return t.select(
        "patient_id",
        "date",
        "analyte",
        "value",
        unit=t.target,
        original_value=t.original_value,
        original_unit=t.raw_unit,
        upper=t.upper,
        scale=t.scale,
        converted=t.converted,
        reason=reason,
        # The text as given is kept for the rejects file only.
        raw_date=ibis.ifelse(reason.notnull(), t.raw_date, ibis.null("string")),
        raw_test=ibis.ifelse(reason.notnull(), t.raw_code.fill_null(t.raw_test), ibis.null("string")),
        raw_value=ibis.ifelse(reason.notnull(), t.raw_value, ibis.null("string")),
        raw_unit=ibis.ifelse(reason.notnull(), t.raw_unit, ibis.null("string")),
    )


def normalise_administrations(raw: ir.Table, as_of: date) -> ir.Table:
    t = raw.select(patient_id=_text(raw.patient_id), raw_date=_text(raw.date), raw_dose=_text(raw.dose))
    t = t.mutate(date=_iso_date(t.raw_date))
    reason = ibis.cases(
        (t.patient_id.isnull(), Reason.MISSING_PATIENT),
        (t.date.isnull(), Reason.BAD_DATE),
        (t.date > ibis.date(as_of), Reason.AFTER_AS_OF),
        else_=ibis.null("string"),
    )
    return t.mutate(reason=reason)


def _list_text(column: ir.StringValue) -> ir.StringValue:
    """``"Diet; nitrous oxide"`` -> ``";diet;nitrous_oxide;"``: terms as the domain's enum values."""
    squashed = column.lower().re_replace(r"[ \t]*;[ \t]*", ";").strip().re_replace(r"[ \t-]+", "_")
    return ibis.literal(";") + squashed.fill_null("") + ibis.literal(";")


def normalise_attributes(raw: ir.Table) -> ir.Table:
    t = raw.select(
        patient_id=_text(raw.patient_id),
        raw_sex=_text(raw.sex),
        raw_pregnant=_text(raw.pregnant),
        raw_causes=_text(raw.causes),
        raw_symptoms=_text(raw.symptoms),
        raw_long_term=_text(raw.long_term_replacement),
    )
    sex_text = t.raw_sex.lower()
    t = t.mutate(
        sex=ibis.cases((sex_text.isin(["m", "male"]), "male"), (sex_text.isin(["f", "female"]), "female"), else_=None),
        pregnant=t.raw_pregnant.lower().isin(_TRUE).fill_null(False),
        long_term=t.raw_long_term.lower().isin(_TRUE).fill_null(False),
        causes=_list_text(t.raw_causes),
        symptoms=_list_text(t.raw_symptoms),
    )
    order = ibis.window(
        group_by=t.patient_id,
        order_by=[
            t.raw_sex.asc(nulls_first=True),
            t.raw_pregnant.asc(nulls_first=True),
            t.raw_causes.asc(nulls_first=True),
            t.raw_symptoms.asc(nulls_first=True),
            t.raw_long_term.asc(nulls_first=True),
        ],
    )
    t = t.mutate(copy=ibis.row_number().over(order))
    reason = ibis.cases(
        (t.patient_id.isnull(), Reason.MISSING_PATIENT),
        (t.copy > 0, Reason.DUPLICATE_PATIENT),
        ((t.sex == "male") & t.pregnant, Reason.MALE_PREGNANT),
        else_=ibis.null("string"),
    )
    return t.mutate(reason=reason).drop("copy")


def rejects(observations: ir.Table, administrations: ir.Table | None, attributes: ir.Table | None) -> ir.Table:
    """Every row that could not be used, with its reason and its values as given."""
    parts = [
        observations.filter(observations.reason.notnull()).select(
            source=ibis.literal("observations"),
            patient_id=observations.patient_id,
            date=observations.raw_date,
            test=observations.raw_test,
            value=observations.raw_value,
            unit=observations.raw_unit,
            reason=observations.reason,
        )
    ]
    if administrations is not None:
        a = administrations
        parts.append(
            a.filter(a.reason.notnull()).select(
                source=ibis.literal("administrations"),
                patient_id=a.patient_id,
                date=a.raw_date,
                test=ibis.null("string"),
                value=a.raw_dose,
                unit=ibis.null("string"),
                reason=a.reason,
            )
        )
    if attributes is not None:
        p = attributes
        parts.append(
            p.filter(p.reason.notnull()).select(
                source=ibis.literal("patients"),
                patient_id=p.patient_id,
                date=ibis.null("string"),
                test=ibis.null("string"),
                value=ibis.null("string"),
                unit=ibis.null("string"),
                reason=p.reason,
            )
        )
    result = parts[0]
    for part in parts[1:]:
        result = result.union(part)
    return result


REJECT_SCHEMA = pa.schema(
    [
        ("source", pa.string()),
        ("patient_id", pa.string()),
        ("date", pa.string()),
        ("test", pa.string()),
        ("value", pa.string()),
        ("unit", pa.string()),
        ("reason", pa.string()),
    ]
)


# --------------------------------------------------------------------------------------------------
# Triage


def _band_cases(thresholds: ThresholdSet, scale: ir.IntegerValue, value: ir.FloatingValue) -> ir.IntegerValue:
    """The band as ``scale * 100 + band index``, from the set's intervals (bounds and closedness as written)."""
    branches = []
    for k, s in enumerate(thresholds.scales):
        for i, band in enumerate(s.bands):
            interval = band.range
            condition = scale == k
            if interval.low != float("-inf"):
                condition &= (value >= interval.low) if interval.low_closed else (value > interval.low)
            if interval.high != float("inf"):
                condition &= (value <= interval.high) if interval.high_closed else (value < interval.high)
            branches.append((condition, ibis.literal(k * 100 + i, "int32")))
    return ibis.cases(*branches, else_=ibis.null("int32"))


def _band_attribute(thresholds: ThresholdSet, band: ir.IntegerValue, attribute: str) -> ir.Value:
    pairs = []
    for k, s in enumerate(thresholds.scales):
        for i, b in enumerate(s.bands):
            value = {
                "status": b.status.value,
                "label": b.label,
                "raised": b.raised,
                "rule": s.rule,
            }[attribute]
            pairs.append((band == k * 100 + i, value))
    if not pairs:
        return ibis.null("boolean" if attribute == "raised" else "string")
    return ibis.cases(*pairs, else_=None)


def _joined(items: Sequence[tuple[ir.BooleanValue, ir.StringValue | str]]) -> ir.StringValue:
    """``"code:RULE;code:RULE"`` of the items whose condition holds ('' when none)."""
    return ibis.literal(";").join(
        [ibis.ifelse(condition.fill_null(False), text, ibis.null("string")) for condition, text in items]
    )


def _later(a: ir.DateValue, b: ir.DateValue) -> ir.DateValue:
    return ibis.cases((a.isnull(), b), (b.isnull(), a), (a >= b, a), else_=b)


def triage(
    observations: ir.Table,
    administrations: ir.Table | None,
    attributes: ir.Table | None,
    data: RuleData,
) -> ir.Table:
    """One row per patient: latest results, status, findings, next tests, flags, priority and action."""
    ts = data.thresholds
    obs = observations
    ok = obs.filter(obs.reason.isnull())
    latest_order = ibis.window(
        group_by=[ok.patient_id, ok.analyte],
        order_by=[ok.date.desc(), ok.value.asc(), ok.original_value.asc(), ok.original_unit.asc()],
    )
    latest = ok.mutate(rank=ibis.row_number().over(latest_order))
    latest = latest.filter(latest.rank == 0).drop("rank")
    latest = latest.mutate(band=_band_cases(ts, latest.scale, latest.value))

    b12_values = [a.value for a in B12_ANALYTES]
    if administrations is not None:
        adm = administrations.filter(administrations.reason.isnull()).select(
            adm_patient=administrations.patient_id, adm_date=administrations.date
        )
        b12 = latest.filter(latest.analyte.isin(b12_values)).select(
            s_patient=latest.patient_id, s_analyte=latest.analyte, s_date=latest.date
        )
        before = b12.left_join(adm, (b12.s_patient == adm.adm_patient) & (adm.adm_date <= b12.s_date))
        before = before.group_by(["s_patient", "s_analyte", "s_date"]).aggregate(
            inj_before=before.adm_date.max(), first_before=before.adm_date.min()
        )
        recent_limit = before.s_date - ibis.interval(days=RECENT_INJECTION_DAYS)
        before = before.mutate(
            recent=(before.inj_before >= recent_limit).fill_null(False),
            # Established on long-term replacement at the sample: the first injection at least the review
            # interval before it, and the last one within the longest maintenance interval (docs/triage.md).
            established=(
                (before.first_before <= before.s_date - ibis.interval(months=data.established_months))
                & (before.inj_before >= before.s_date - ibis.interval(months=data.maintenance_months))
            ).fill_null(False),
        )
        before = before.view()
        latest = latest.left_join(
            before, (latest.patient_id == before.s_patient) & (latest.analyte == before.s_analyte)
        ).drop("s_patient", "s_analyte", "s_date", "inj_before", "first_before")
        latest = latest.mutate(recent=latest.recent.fill_null(False), established=latest.established.fill_null(False))
    else:
        latest = latest.mutate(recent=ibis.literal(False), established=ibis.literal(False))

    metrics: dict[str, ir.Value] = {"last_result": latest.date.max()}
    for analyte in Analyte:
        where = latest.analyte == analyte.value
        name = analyte.value
        metrics[f"{name}_n"] = where.cast("int32").max()
        if analyte in REPORTED:
            metrics[f"{name}_value"] = latest.value.max(where=where)
            metrics[f"{name}_unit"] = latest.unit.max(where=where)
            metrics[f"{name}_date"] = latest.date.max(where=where)
            metrics[f"{name}_original"] = latest.original_value.max(where=where)
            metrics[f"{name}_upper"] = latest.upper.max(where=where)
        if analyte in B12_ANALYTES:
            metrics[f"{name}_bandid"] = latest.band.max(where=where)
            metrics[f"{name}_converted"] = latest.converted.cast("int32").max(where=where)
            metrics[f"{name}_recent"] = latest.recent.cast("int32").max(where=where)
            metrics[f"{name}_established"] = latest.established.cast("int32").max(where=where)
    per_patient = latest.group_by("patient_id").aggregate(**metrics).view()

    counted = obs.filter(obs.patient_id.notnull())
    counts = counted.group_by("patient_id").aggregate(
        results=counted.reason.isnull().cast("int64").sum(),
        rejected_rows=counted.reason.notnull().cast("int64").sum(),
    )
    if administrations is not None:
        good = administrations.filter(administrations.reason.isnull())
        given = good.group_by(given_patient=good.patient_id).aggregate(
            first_injection=good.date.min(), last_injection=good.date.max(), injections=good.date.count()
        )
        universe = counts.outer_join(given, counts.patient_id == given.given_patient)
        universe = universe.select(
            patient_id=universe.patient_id.fill_null(universe.given_patient),
            results=universe.results.fill_null(0),
            rejected_rows=universe.rejected_rows.fill_null(0),
            first_injection=universe.first_injection,
            last_injection=universe.last_injection,
            injections=universe.injections.fill_null(0).cast("int64"),
        )
    else:
        universe = counts.mutate(
            first_injection=ibis.null("date"), last_injection=ibis.null("date"), injections=ibis.literal(0, "int64")
        )

    # A projected join is viewed before it is joined again (ibis would otherwise extend the same join chain).
    universe = universe.view()
    p = universe.left_join(per_patient, universe.patient_id == per_patient.patient_id).drop("patient_id_right")
    if attributes is not None:
        attrs = attributes.filter(attributes.reason.isnull()).select(
            a_patient=attributes.patient_id,
            sex=attributes.sex,
            pregnant=attributes.pregnant,
            long_term=attributes.long_term,
            causes=attributes.causes,
            symptoms=attributes.symptoms,
        )
        p = p.view()
        p = p.left_join(attrs, p.patient_id == attrs.a_patient).drop("a_patient")
        p = p.mutate(
            pregnant=p.pregnant.fill_null(False),
            long_term=p.long_term.fill_null(False),
            causes=p.causes.fill_null(";"),
            symptoms=p.symptoms.fill_null(";"),
        )
    else:
        p = p.mutate(
            sex=ibis.null("string"),
            pregnant=ibis.literal(False),
            long_term=ibis.literal(False),
            causes=ibis.literal(";"),
            symptoms=ibis.literal(";"),
        )
    return _derive(p, data)


def _derive(p: ir.Table, data: RuleData) -> ir.Table:
    ts = data.thresholds

    def has(analyte: Analyte) -> ir.BooleanValue:
        return p[f"{analyte.value}_n"].fill_null(0) == 1

    def term(column: ir.StringValue, value: str) -> ir.BooleanValue:
        return column.contains(f";{value};")

    total, active = Analyte.B12_TOTAL.value, Analyte.B12_ACTIVE.value
    p = p.mutate(
        total_status=_band_attribute(ts, p[f"{total}_bandid"], "status"),
        active_status=_band_attribute(ts, p[f"{active}_bandid"], "status"),
        b12_total_band=_band_attribute(ts, p[f"{total}_bandid"], "label"),
        b12_active_band=_band_attribute(ts, p[f"{active}_bandid"], "label"),
        total_rule=_band_attribute(ts, p[f"{total}_bandid"], "rule"),
        active_rule=_band_attribute(ts, p[f"{active}_bandid"], "rule"),
        total_raised=_band_attribute(ts, p[f"{total}_bandid"], "raised"),
        active_raised=_band_attribute(ts, p[f"{active}_bandid"], "raised"),
        total_recent=p[f"{total}_recent"].fill_null(0) == 1,
        active_recent=p[f"{active}_recent"].fill_null(0) == 1,
        has_symptoms=ibis.or_(*(term(p.symptoms, s.value) for s in Symptom)),
        neurological=ibis.or_(*(term(p.symptoms, s.value) for s in sorted(NEUROLOGICAL_SYMPTOMS))),
        nitrous_oxide=term(p.causes, Cause.NITROUS_OXIDE.value),
        male=(p.sex == "male").fill_null(False),
    )
    # DX-RECENT-INJ: a B12 sample within 14 days after an injection is not classified.
    p = p.mutate(
        total_classified=p.total_status.notnull() & ~p.total_recent,
        active_classified=p.active_status.notnull() & ~p.active_recent,
    )
    p = p.mutate(
        total_effective=ibis.ifelse(p.total_classified, p.total_status, ibis.null("string")),
        active_effective=ibis.ifelse(p.active_classified, p.active_status, ibis.null("string")),
    )

    def either(status: Status) -> ir.BooleanValue:
        return ((p.total_effective == status.value) | (p.active_effective == status.value)).fill_null(False)

    # DX-TWO-TESTS: the more severe of the classified B12 results.
    p = p.mutate(
        status=ibis.cases(
            (either(Status.CONFIRMED), Status.CONFIRMED.value),
            (either(Status.INDETERMINATE), Status.INDETERMINATE.value),
            (either(Status.UNLIKELY), Status.UNLIKELY.value),
            else_=Status.NOT_ASSESSABLE.value,
        )
    )
    p = p.mutate(
        status_rule=ibis.cases(
            (p.total_effective == p.status, p.total_rule),
            (p.active_effective == p.status, p.active_rule),
            else_=ibis.null("string"),
        ),
        b12_date=_later(p[f"{total}_date"], p[f"{active}_date"]),
    )

    hb_limit = ibis.cases(
        (p.pregnant, ANAEMIA_HB_BELOW_G_L_PREGNANT),
        (p.male, ANAEMIA_HB_BELOW_G_L_MEN),
        else_=ANAEMIA_HB_BELOW_G_L_WOMEN,
    )
    mcv = p[f"{Analyte.MCV.value}_value"]
    folate = p[f"{Analyte.FOLATE.value}_value"]

    def above(analyte: Analyte, normal_below: float) -> ir.BooleanValue:
        # Above the lab's upper limit (in the unit reported) when given, else at or above a published normal.
        name = analyte.value
        return ibis.ifelse(
            p[f"{name}_upper"].notnull(),
            p[f"{name}_original"] > p[f"{name}_upper"],
            p[f"{name}_value"] >= normal_below,
        )

    p = p.mutate(
        anaemia=(p[f"{Analyte.HEMOGLOBIN.value}_value"] < hb_limit).fill_null(False),
        macrocytosis=(mcv > DEFAULT_MCV_CUTOFF_FL).fill_null(False),
        raised_mma=above(Analyte.MMA, STABLER_MMA_NORMAL_BELOW_NMOL_L).fill_null(False),
        untreated=(p.last_injection.isnull() | (p.last_injection < p.b12_date)).fill_null(True),
    )
    p = p.mutate(
        strong=p.neurological | (p.anaemia & p.macrocytosis),
        established=(
            p.long_term | (p[f"{total}_established"].fill_null(0) == 1) | (p[f"{active}_established"].fill_null(0) == 1)
        ),
    )
    has_b12 = has(Analyte.B12_TOTAL) | has(Analyte.B12_ACTIVE)
    findings = _joined(
        [
            (p.anaemia, "anaemia:LAB-HB"),
            (p.macrocytosis, "macrocytosis:LAB-MCV"),
            (mcv.notnull() & ~p.macrocytosis & (p.status == Status.CONFIRMED.value), "normal_mcv:LAB-MCV"),
            (folate < FOLATE_DEFICIENT_BELOW_NMOL_L, "folate_deficiency:LAB-FOLATE"),
            (
                (folate >= FOLATE_DEFICIENT_BELOW_NMOL_L) & (folate <= FOLATE_INDETERMINATE_UP_TO_NMOL_L),
                "folate_indeterminate:LAB-FOLATE",
            ),
            (p.raised_mma, "raised_mma:DX-MMA"),
            (above(Analyte.HOMOCYSTEINE, STABLER_HCY_NORMAL_BELOW_UMOL_L), "raised_homocysteine:LAB-HCY"),
            (p.total_classified & p.total_raised, "raised_b12:" + p.total_rule),
            (p.active_classified & p.active_raised, "raised_b12:" + p.active_rule),
            (p.total_classified & (p[f"{total}_converted"] == 1), "converted_for_scale:" + p.total_rule),
            (p.active_classified & (p[f"{active}_converted"] == 1), "converted_for_scale:" + p.active_rule),
            (
                (has(Analyte.B12_TOTAL) & ~p.total_recent & p.total_status.isnull())
                | (has(Analyte.B12_ACTIVE) & ~p.active_recent & p.active_status.isnull()),
                "b12_not_classified:DX-NO-SCALE",
            ),
            (
                p.total_classified & p.active_classified & (p.total_status != p.active_status),
                "b12_tests_disagree:DX-TWO-TESTS",
            ),
            (p.pregnant & ~has(Analyte.B12_ACTIVE) & has(Analyte.B12_TOTAL), "pregnancy_total_b12:DX-PREG"),
        ]
    )
    indeterminate = p.status == Status.INDETERMINATE.value
    confirmed = p.status == Status.CONFIRMED.value
    next_preg = p.pregnant & ~has(Analyte.B12_ACTIVE)
    next_total = ~next_preg & ~has(Analyte.B12_TOTAL) & ~has(Analyte.B12_ACTIVE) & ~p.nitrous_oxide
    next_hcy = p.nitrous_oxide & ~has(Analyte.HOMOCYSTEINE)
    next_mma = indeterminate & p.has_symptoms & ~has(Analyte.MMA)
    next_tests = _joined(
        [
            (next_preg, "b12_active:DX-PREG"),
            (next_total, "b12_total:DX-TEST"),
            (next_hcy, "homocysteine:DX-N2O"),
            (next_mma, "mma:DX-MMA"),
        ]
    )
    review_due = data.review_due_before(pregnant=False)
    review_due_pregnant = data.review_due_before(pregnant=True)
    if review_due is not None and review_due_pregnant is not None:
        due = ibis.ifelse(p.pregnant, ibis.date(review_due_pregnant), ibis.date(review_due))
        review_overdue = (
            (p.first_injection <= due) & (p.last_result.isnull() | (p.last_result <= p.first_injection))
        ).fill_null(False)
    else:
        review_overdue = ibis.literal(False)
    injection_overdue = (p.last_injection < ibis.date(data.injection_due_before)).fill_null(False)
    recent = p.total_recent | p.active_recent
    retested = p.established & has_b12
    n2o_total_only = p.nitrous_oxide & has(Analyte.B12_TOTAL) & ~has(Analyte.HOMOCYSTEINE) & ~has(Analyte.MMA)
    no_mma = indeterminate & p.has_symptoms & ~has(Analyte.MMA)
    discordant = p.strong & ~confirmed
    flags = _joined(
        [
            (injection_overdue, f"injection_overdue:{data.maintenance_rule}"),
            (review_overdue, "review_overdue:FU-UK"),
            (recent, "recent_injection:DX-RECENT-INJ"),
            (retested, "retested_on_replacement:FU-NO-RETEST"),
            (n2o_total_only, "n2o_total_b12_only:DX-N2O"),
            (no_mma, "indeterminate_symptoms_no_mma:DX-MMA"),
            (discordant, "strong_features_not_confirmed:DX-DISCORD"),
        ]
    )
    urgent = confirmed & p.neurological & p.untreated
    high = (confirmed & p.untreated) | (discordant & p.untreated) | injection_overdue
    anything = next_preg | next_total | next_hcy | next_mma | review_overdue | recent | retested | n2o_total_only
    priority = ibis.cases((urgent, 1), (high, 2), (anything | indeterminate, 3), else_=4)
    not_classified = has_b12 & ~p.total_classified & ~p.active_classified & ~recent
    actions: list[tuple[ir.BooleanValue, str, ir.StringValue | str]] = [
        (
            confirmed & p.neurological & p.untreated,
            "Treat without waiting for further tests and seek urgent specialist advice: confirmed deficiency "
            "with neurological symptoms",
            "NEURO-URGENT",
        ),
        (
            discordant & p.untreated,
            "Do not delay treatment: strong clinical features with a B12 result that does not confirm deficiency",
            "DX-DISCORD",
        ),
        (confirmed & p.untreated, "Deficiency confirmed: start treatment as the guideline says", p.status_rule),
        (injection_overdue, "Maintenance injection overdue: give the next injection", data.maintenance_rule),
        (
            retested,
            "Established on long-term replacement: do not re-test B12 or adjust treatment by it",
            "FU-NO-RETEST",
        ),
        (
            recent,
            "B12 taken within 14 days after an injection is uninterpretable: do not act on it",
            "DX-RECENT-INJ",
        ),
        (next_preg, "Request active B12 (holotranscobalamin): the initial test in pregnancy", "DX-PREG"),
        (next_hcy, "Request plasma homocysteine: suspected nitrous oxide use", "DX-N2O"),
        (next_mma, "Consider serum MMA: indeterminate B12 with symptoms", "DX-MMA"),
        (
            next_total,
            "No B12 result: offer total or active B12 if there is a symptom and a risk factor",
            "DX-TEST",
        ),
        (review_overdue, "Treatment review overdue: book the review", "FU-UK"),
        (
            indeterminate,
            "Indeterminate B12: consider treatment if deficiency is suspected",
            p.status_rule,
        ),
        (confirmed, "Deficiency confirmed and treated since: continue and review as planned", "FU-UK"),
        (not_classified, "B12 not classified by this threshold set: use a set with a scale for it", "DX-NO-SCALE"),
        (p.status == Status.UNLIKELY.value, "Deficiency unlikely: no action from these results", p.status_rule),
    ]
    action = ibis.cases(*((c.fill_null(False), text) for c, text, _ in actions), else_="No action from these results")
    action_rule = ibis.cases(*((c.fill_null(False), rule) for c, _, rule in actions), else_=ibis.null("string"))
    p = p.mutate(
        findings=findings,
        next_tests=next_tests,
        flags=flags,
        priority=priority.cast("int32"),
        action=action,
        action_rule=action_rule,
    )
    p = p.mutate(priority_label=p.priority.cases(*PRIORITY_LABELS.items(), else_=None))
    columns: dict[str, ir.Value] = {
        "patient_id": p.patient_id,
        "status": p.status,
        "priority": p.priority,
        "priority_label": p.priority_label,
        "action": p.action,
        "action_rule": p.action_rule,
        "flags": p.flags,
        "findings": p.findings,
        "next_tests": p.next_tests,
    }
    for analyte in REPORTED:
        name = analyte.value
        columns[f"{name}_value"] = p[f"{name}_value"]
        columns[f"{name}_unit"] = p[f"{name}_unit"]
        columns[f"{name}_date"] = p[f"{name}_date"]
        if analyte is Analyte.B12_TOTAL:
            columns["b12_total_band"] = p.b12_total_band
        if analyte is Analyte.B12_ACTIVE:
            columns["b12_active_band"] = p.b12_active_band
    columns.update(
        first_injection=p.first_injection,
        last_injection=p.last_injection,
        injections=p.injections,
        results=p.results,
        rejected_rows=p.rejected_rows,
        sex=p.sex,
        pregnant=p.pregnant,
    )
    return p.select(**columns).cast(ibis.Schema.from_pyarrow(OUTPUT_SCHEMA))


def _output_schema() -> pa.Schema:
    fields: list[tuple[str, pa.DataType]] = [
        ("patient_id", pa.string()),
        ("status", pa.string()),
        ("priority", pa.int32()),
        ("priority_label", pa.string()),
        ("action", pa.string()),
        ("action_rule", pa.string()),
        ("flags", pa.string()),
        ("findings", pa.string()),
        ("next_tests", pa.string()),
    ]
    for analyte in REPORTED:
        name = analyte.value
        fields += [(f"{name}_value", pa.float64()), (f"{name}_unit", pa.string()), (f"{name}_date", pa.date32())]
        if analyte in B12_ANALYTES:
            fields.append((f"{name}_band", pa.string()))
    fields += [
        ("first_injection", pa.date32()),
        ("last_injection", pa.date32()),
        ("injections", pa.int64()),
        ("results", pa.int64()),
        ("rejected_rows", pa.int64()),
        ("sex", pa.string()),
        ("pregnant", pa.bool_()),
    ]
    return pa.schema(fields)


OUTPUT_SCHEMA = _output_schema()
