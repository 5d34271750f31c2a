"""The triage, written once as ibis expressions that run unchanged on DuckDB and on PySpark.

Pure functions of ibis tables (no engine is named here); ``pipeline.py`` materialises the few small
results that are read twice:

- :func:`spellings` and :func:`resolve_spellings`: the distinct (code, test, unit) spellings of the
  extract, a few dozen, matched against the unit vocabulary of ``units.toml``, the LOINC codes and the
  test names, with the conversion factor of ``units.toml`` (``vocabulary.py``). Rows are never matched
  one by one: they are joined to this small table.
- :func:`observations` types each raw row (date, value, upper limit), joins its spelling and packs what
  the triage needs of it into one sortable 64-bit key; :func:`patients` reduces the rows to one per
  patient in a single GROUP BY (the latest result of each test is the smallest key) and decodes it.
  :func:`normalise_administrations` and :func:`normalise_attributes` read the other two inputs.
- :func:`triage` bands B12 against the threshold set (CASE expressions generated from the set's
  intervals, bounds and closedness as written in its file) on the per-patient rows, and derives status,
  findings, next tests, flags, a priority and one suggested action, each citing a rule ID.
- :func:`rejects` gathers the rows that could not be read, with their reason: they are written to the
  rejects file, never dropped.

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

from b12.adapters.triage import vocabulary
from b12.adapters.triage.vocabulary import ANALYTE_INDEX, B12_ANALYTES, NAME_SEPARATOR_PATTERN, UNIT_SPACE_PATTERN
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

# The suggested actions, the first that applies (docs/triage.md): (key, text, rule). The rule "status" is
# the rule of the threshold set's scale that gave the status, "maintenance" the guideline's regimen rule.
_ACTIONS: tuple[tuple[str, str, str], ...] = (
    (
        "NEURO-URGENT",
        "Treat without waiting for further tests and seek urgent specialist advice: confirmed deficiency "
        "with neurological symptoms",
        "NEURO-URGENT",
    ),
    (
        "DX-DISCORD",
        "Do not delay treatment: strong clinical features with a B12 result that does not confirm deficiency",
        "DX-DISCORD",
    ),
    ("start", "Deficiency confirmed: start treatment as the guideline says", "status"),
    ("injection", "Maintenance injection overdue: give the next injection", "maintenance"),
    (
        "FU-NO-RETEST",
        "Established on long-term replacement: do not re-test B12 or adjust treatment by it",
        "FU-NO-RETEST",
    ),
    (
        "DX-RECENT-INJ",
        "B12 taken within 14 days after an injection is uninterpretable: do not act on it",
        "DX-RECENT-INJ",
    ),
    ("DX-PREG", "Request active B12 (holotranscobalamin): the initial test in pregnancy", "DX-PREG"),
    ("DX-N2O", "Request plasma homocysteine: suspected nitrous oxide use", "DX-N2O"),
    ("DX-MMA", "Consider serum MMA: indeterminate B12 with symptoms", "DX-MMA"),
    ("DX-TEST", "No B12 result: offer total or active B12 if there is a symptom and a risk factor", "DX-TEST"),
    ("review", "Treatment review overdue: book the review", "FU-UK"),
    ("indeterminate", "Indeterminate B12: consider treatment if deficiency is suspected", "status"),
    ("continue", "Deficiency confirmed and treated since: continue and review as planned", "FU-UK"),
    ("DX-NO-SCALE", "B12 not classified by this threshold set: use a set with a scale for it", "DX-NO-SCALE"),
    ("unlikely", "Deficiency unlikely: no action from these results", "status"),
)
NO_ACTION = "No action from these results"

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
    DATE_OUT_OF_RANGE = "date before 1900-01-01 or after 2199-12-31"
    IMPLAUSIBLE = "value outside b12's input sanity bounds for its unit (units.toml; not a clinical threshold)"
    VALUE_OUT_OF_RANGE = "value too large (above 2,199,023 in the unit it is normalised to)"  # MAX_MICRO
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
#
# The latest result of each test is found with one GROUP BY patient and one MIN per test over a 63-bit
# key that sorts rows as the triage orders them and carries what the triage needs of the row:
#
#     bit 62 ... 46    45 ............... 5   4 ... 1   0
#     LAST_DAY - day   value in millionths   rank      flag
#
# so the smallest key is the latest date, then the lowest normalised value, then the unit's rank (the
# larger factor first: the smaller number as reported; then the unit symbol), then flag 0 before 1. The
# minimum is decoded back into the date, the value (exact: normalised values are kept to 6 decimals),
# the unit (from the rank) and the flag (above the lab's upper limit or the published normal, for MMA
# and homocysteine). A window function, or an arg-max of a struct per test, costs 10-20 times more.
# The same pass collects the rows that cannot be used, with their reason (about 1 in 100 rows).

EPOCH = date(1900, 1, 1)
DAY_BITS = 17
RANK_BITS = 4
FLAG_BITS = 1
VALUE_BITS = 63 - DAY_BITS - RANK_BITS - FLAG_BITS  # 41
LAST_DAY = 2**DAY_BITS - 1
MAX_MICRO = 2**VALUE_BITS - 1
# The dates and values the key can hold; rows outside are rejected (a year 1850 or a B12 of 3,000,000
# is a typing mistake in any unit b12 normalises to).
LATEST_DATE = date(2199, 12, 31)
VALUE_OUT_OF_RANGE_TEXT = f"{MAX_MICRO // 1_000_000:,}"  # as Reason.VALUE_OUT_OF_RANGE says
_RANK_SHIFT = FLAG_BITS
_VALUE_SHIFT = RANK_BITS + FLAG_BITS
_DAY_SHIFT = VALUE_BITS + RANK_BITS + FLAG_BITS

# Upper limits of normal for the "raised" flag of MMA and homocysteine when the row gives none, in the
# analyte's report unit ("normal <400 nmol/L", "normal <14 µmol/L" [S51]).
_NORMAL_BELOW = {Analyte.MMA: STABLER_MMA_NORMAL_BELOW_NMOL_L, Analyte.HOMOCYSTEINE: STABLER_HCY_NORMAL_BELOW_UMOL_L}


@ibis.udf.scalar.builtin(name="substr")  # type: ignore[untyped-decorator]
def _substr(text: str, start: int, length: int) -> str:  # type: ignore[empty-body]
    """``length`` characters from ``start`` (1-based), by the function both engines call ``substr``.

    ibis's own substring adds a CASE for negative starts, which DuckDB evaluates on every row instead
    of once per distinct value of a dictionary-encoded column (and DuckDB's ``left`` is no faster)."""


def _text(column: ir.Value) -> ir.StringValue:
    """Trimmed text, NULL when empty."""
    text = column.cast("string")
    # Only text that starts or ends with a character up to " " can have white space to strip: the test is
    # cheap, the strip (a character set) is not, and most rows do not need it.
    padded = (text < "!") | (text.right(1) < "!")
    return ibis.ifelse(padded, text.strip(), text).nullif("")


# What a number is, the same on both engines (docs/triage.md): what both read as a decimal number, less what
# one of them alone accepts: digit separators ("1_000", DuckDB), type suffixes ("1d", "1f", Spark) and NaN
# (DuckDB; Spark reads NULL). "inf" and "Infinity" contain an f, so neither engine reads them either. The
# character tests are cheap on a dictionary-encoded column; a regular expression costs ten times more.
_NOT_IN_A_NUMBER = ("_", "d", "D", "f", "F")


def _number(column: ir.Value) -> ir.FloatingValue:
    """The value of a text column as a float, NULL when it is not a plain decimal number."""
    text = column.cast("string")
    unusual = ibis.or_(*(text.contains(character) for character in _NOT_IN_A_NUMBER))
    number = ibis.ifelse(unusual, ibis.null("float64"), text.try_cast("float64"))
    # Both engines' casts ignore surrounding white space and read "" as NULL.
    return ibis.ifelse(number.isnan(), ibis.null("float64"), number)


def _iso_date(text: ir.StringValue) -> ir.DateValue:
    # "YYYY-MM-DD" at the start, checked with LIKE before the cast, so that both engines read the same
    # strings as dates (each would accept its own lenient forms such as "2024-1-5").
    return ibis.ifelse(text.like("____-__-__%"), _substr(text, 1, 10), ibis.null("string")).try_cast("date")


def spellings(raw: ir.Table) -> ir.Table:
    """The distinct (code, test, unit) spellings of the raw rows: a few dozen, however many rows."""
    return raw.select("code", "test", "unit").distinct()


def resolve_spellings(seen: ir.Table, units: ir.Table, analytes: ir.Table, conversions: ir.Table) -> ir.Table:
    """Each spelling -> analyte, unit symbol and conversion (factor, rank), matched as
    :func:`b12.domain.units.parse_unit` and the LOINC/name tables do; computed on the small table only."""
    t = seen.select(
        code_=seen.code,
        test_=seen.test,
        unit_=seen.unit,
        code_key=_text(seen.code).fill_null(""),
        test_key=_text(seen.test).fill_null(""),
        unit_key=_text(seen.unit).fill_null(""),
    )
    t = t.mutate(
        exact_=t.unit_key.re_replace(UNIT_SPACE_PATTERN, ""),
        name_=t.test_key.re_replace(NAME_SEPARATOR_PATTERN, " ").strip().lower(),
    )
    t = t.mutate(folded_=t.exact_.lower())
    exact = units.filter(units.kind == "exact").select(exact_key_=units.key, exact_symbol=units.symbol)
    folded = units.filter(units.kind == "folded").select(folded_key_=units.key, folded_symbol=units.symbol)
    by_code = analytes.filter(analytes.kind == "loinc").select(code_key_=analytes.key, code_analyte=analytes.analyte)
    by_name = analytes.filter(analytes.kind == "name").select(name_key_=analytes.key, name_analyte=analytes.analyte)
    t = (
        t.left_join(exact, t.exact_ == exact.exact_key_)
        .left_join(folded, t.folded_ == folded.folded_key_)
        .left_join(by_code, t.code_key == by_code.code_key_)
        .left_join(by_name, t.name_ == by_name.name_key_)
    )
    t = t.select(
        "code_",
        "test_",
        "unit_",
        symbol=t.exact_symbol.fill_null(t.folded_symbol),
        analyte=t.code_analyte.fill_null(t.name_analyte),
    ).view()
    c = conversions
    t = t.left_join(c, (t.analyte == c.analyte) & (t.symbol == c.symbol))
    normal = ibis.cases(
        *((t.analyte == analyte.value, limit * 1_000_000) for analyte, limit in _NORMAL_BELOW.items()),
        else_=ibis.null("float64"),
    )
    return t.select(
        "code_",
        "test_",
        "unit_",
        "analyte",
        "symbol",
        analyte_index=t.analyte_index,
        factor=t.factor,
        rank_bits=(t["rank"].cast("int64") << _RANK_SHIFT),
        normal_micro=normal,
        low=t.low,
        high=t.high,
    )


def observations(raw: ir.Table, resolved: ir.Table) -> ir.Table:
    """One typed row per raw row (not materialised): ``ok``, the packed ``key``, and what a reject needs."""
    # Text is read before the join, where the engine still holds the file's dictionary-encoded columns.
    t = raw.select(
        "code",
        "test",
        "unit",
        patient_id=_text(raw.patient_id),
        raw_date=raw.date,
        raw_value=raw.value,
        problem=_text(raw.problem) if "problem" in raw.columns else ibis.null("string"),
        date=_iso_date(raw.date.strip()),
        original=_number(raw.value),
        upper=_number(raw.upper_limit),
    )
    # The date's part of the key; NULL outside the dates the key can hold.
    in_range = (t.date >= ibis.date(EPOCH)) & (t.date <= ibis.date(LATEST_DATE))
    days_back = LAST_DAY - t.date.delta(ibis.date(EPOCH), unit="day").cast("int64")
    t = t.mutate(day_bits=ibis.ifelse(in_range, days_back << _DAY_SHIFT, ibis.null("int64")))
    s = resolved
    t = t.left_join(
        s,
        [t.code.identical_to(s.code_), t.test.identical_to(s.test_), t.unit.identical_to(s.unit_)],
    )
    t = t.select(
        "patient_id",
        "raw_date",
        "raw_value",
        "problem",
        "date",
        "original",
        "upper",
        "day_bits",
        raw_code=t.code,
        raw_test=t.test,
        raw_unit=t.unit,
        analyte=t.analyte,
        analyte_index=t.analyte_index,
        symbol=t.symbol,
        factor=t.factor,
        rank_bits=t.rank_bits,
        normal_micro=t.normal_micro,
        # NULL bounds (no conversion for the spelling) leave the row to the reasons before this one.
        plausible=((t.original >= t.low) & (t.original <= t.high)).fill_null(False),
    )
    # Millionths of the normalised value, rounded half up to 6 decimals as floor(x + 0.5) (the same on both
    # engines). Clamped to [0, MAX_MICRO + 1] first, so that the cast cannot fail: NaN and infinity (both
    # engines order NaN above every number) and a NULL value or factor (LEAST skips NULL) give
    # MAX_MICRO + 1, a value not above zero gives 0, and the row is not ok.
    scaled = t.original * t.factor * 1_000_000
    t = t.mutate(micro=(ibis.greatest(ibis.least(scaled, float(MAX_MICRO + 1)), 0.0) + 0.5).floor().cast("int64"))
    # Each step is computed once and read by the next (an engine does not share a repeated subexpression).
    t = t.mutate(
        ok=(
            t.problem.isnull()
            & t.patient_id.notnull()
            & t.day_bits.notnull()
            & t.plausible
            & (t.micro >= 1)
            & (t.micro <= MAX_MICRO)
        ).fill_null(False),
        flag=ibis.ifelse(
            t.normal_micro.notnull(),
            ibis.ifelse(t.upper.notnull(), t.original > t.upper, t.micro >= t.normal_micro),
            False,
        ).fill_null(False),
    )
    key = t.day_bits | (t.micro << _VALUE_SHIFT) | t.rank_bits | t.flag.cast("int64")
    return t.mutate(key=ibis.ifelse(t.ok, key, ibis.null("int64")))


def observation_reason(t: ir.Table) -> ir.StringValue:
    """Why a row of :func:`observations` cannot be used (NULL when it can)."""
    return ibis.cases(
        (t.problem.notnull(), t.problem),
        (t.patient_id.isnull(), Reason.MISSING_PATIENT),
        (t.analyte.isnull(), Reason.UNKNOWN_TEST),
        (t.original.isnull(), Reason.NON_NUMERIC),
        (t.original.isnan() | t.original.isinf() | (t.original <= 0), Reason.NOT_POSITIVE),
        (t.symbol.isnull(), Reason.UNKNOWN_UNIT),
        (t.factor.isnull(), Reason.WRONG_UNIT),
        (~t.plausible, Reason.IMPLAUSIBLE),
        (t.micro < 1, Reason.NOT_POSITIVE),
        (t.date.isnull(), Reason.BAD_DATE),
        (t.day_bits.isnull(), Reason.DATE_OUT_OF_RANGE),
        (t.micro > MAX_MICRO, Reason.VALUE_OUT_OF_RANGE),
        else_=ibis.null("string"),
    )


_REJECT_FIELDS = ("date", "test", "value", "unit", "reason")


def patients(obs: ir.Table) -> ir.Table:
    """One row per patient id of :func:`observations` (and one for the rows without): rows read and used,
    the last result date, the smallest key of each reported test, and the rejected rows with their
    reason; one pass, one hash table."""
    t = obs
    # The fields of _REJECT_FIELDS, as an array of text: built for the rejected rows only (a CASE) and
    # collected for them only (a FILTER). An array rather than a struct: a NULL struct still carries its
    # fields, so a struct column costs as much on the 99 rows in 100 that are used.
    reject = ibis.array(
        [
            _text(t.raw_date),
            _text(t.raw_code).fill_null(_text(t.raw_test)),
            _text(t.raw_value),
            _text(t.raw_unit),
            observation_reason(t),
        ]
    )
    rejected = ibis.ifelse(t.ok, ibis.null(reject.type()), reject)
    metrics: dict[str, ir.Value] = {
        "rows": t.count(),  # rows used: rows - len(rejects)
        "last_key": t.key.min(),  # the latest result of any test: its date is the last result's
        "rejects": rejected.collect(where=~t.ok),
    }
    for analyte in REPORTED:
        metrics[f"{analyte.value}_key"] = t.key.min(where=t.analyte_index == ANALYTE_INDEX[analyte])
    # Rows without a patient id form one group of their own (a filter here would be pushed below the
    # GROUP BY and cost a second reading of the id): triage() leaves it out, rejects() reads it.
    return t.group_by("patient_id").aggregate(**metrics)


def normalise_administrations(raw: ir.Table, as_of: date) -> ir.Table:
    """One typed row per administration, ``ok`` when it can be used (not materialised)."""
    t = raw.select(
        patient_id=_text(raw.patient_id),
        raw_date=raw.date,
        raw_dose=raw.dose,
        date=_iso_date(raw.date.strip()),
    )
    return t.mutate(ok=(t.patient_id.notnull() & (t.date <= ibis.date(as_of))).fill_null(False))


def administration_reason(t: ir.Table, as_of: date) -> ir.StringValue:
    return ibis.cases(
        (t.patient_id.isnull(), Reason.MISSING_PATIENT),
        (t.date.isnull(), Reason.BAD_DATE),
        (t.date > ibis.date(as_of), Reason.AFTER_AS_OF),
        else_=ibis.null("string"),
    )


def _list_text(column: ir.StringValue) -> ir.StringValue:
    """``"Diet; nitrous oxide"`` -> ``";diet;nitrous_oxide;"``: terms as the domain's enum values."""
    squashed = column.lower().re_replace(r"[ \t]*;[ \t]*", ";").strip().re_replace(r"[ \t-]+", "_")
    return ibis.literal(";") + squashed.fill_null("") + ibis.literal(";")


_ATTRIBUTE_TEXT = ("sex", "pregnant", "causes", "symptoms", "long_term_replacement")


def attribute_spellings(raw: ir.Table) -> ir.Table:
    """The distinct (sex, pregnant, causes, symptoms, long-term) spellings of the patient rows."""
    return raw.select(*_ATTRIBUTE_TEXT).distinct()


def resolve_attribute_spellings(seen: ir.Table) -> ir.Table:
    """Each spelling -> its attributes, and its place in the order that picks one row per patient."""
    t = seen.select(
        **{f"{name}_": seen[name] for name in _ATTRIBUTE_TEXT},
        raw_sex=_text(seen.sex),
        raw_pregnant=_text(seen.pregnant),
        raw_causes=_text(seen.causes),
        raw_symptoms=_text(seen.symptoms),
        raw_long_term=_text(seen.long_term_replacement),
    )
    sex_text = t.raw_sex.lower()
    order = ibis.window(
        order_by=[
            t.raw_sex.asc(nulls_first=True),
            t.raw_pregnant.asc(nulls_first=True),
            t.raw_causes.asc(nulls_first=True),
            t.raw_symptoms.asc(nulls_first=True),
            t.raw_long_term.asc(nulls_first=True),
        ]
    )
    t = t.mutate(
        # Spellings equal once trimmed share a place (and their attributes).
        order=ibis.dense_rank().over(order).cast("int64"),
        sex=ibis.cases((sex_text.isin(["m", "male"]), "male"), (sex_text.isin(["f", "female"]), "female"), else_=None),
        pregnant=t.raw_pregnant.lower().isin(_TRUE).fill_null(False),
        long_term=t.raw_long_term.lower().isin(_TRUE).fill_null(False),
        causes=_list_text(t.raw_causes),
        symptoms=_list_text(t.raw_symptoms),
    )

    def term(column: ir.StringValue, value: str) -> ir.BooleanValue:
        return column.contains(f";{value};")

    return t.select(
        *(f"{name}_" for name in _ATTRIBUTE_TEXT),
        "order",
        "sex",
        "pregnant",
        "long_term",
        has_symptoms=ibis.or_(*(term(t.symptoms, s.value) for s in Symptom)),
        neurological=ibis.or_(*(term(t.symptoms, s.value) for s in sorted(NEUROLOGICAL_SYMPTOMS))),
        nitrous_oxide=term(t.causes, Cause.NITROUS_OXIDE.value),
        male_pregnant=(t.sex == "male").fill_null(False) & t.pregnant,
    )


def normalise_attributes(raw: ir.Table, resolved: ir.Table) -> ir.Table:
    """One row per patient id (and one for the rows without): how many rows it has, and the attributes of
    the first in the order of sex, pregnant, causes, symptoms, long-term (text as given, NULL first)."""
    s = resolved
    t = raw.select(*_ATTRIBUTE_TEXT, patient_id=_text(raw.patient_id))
    t = t.left_join(s, [t[name].identical_to(s[f"{name}_"]) for name in _ATTRIBUTE_TEXT])
    per_patient = t.group_by("patient_id").aggregate(copies=t.count(), first=t.order.min())
    by_order = s.select(
        "order", "sex", "pregnant", "long_term", "has_symptoms", "neurological", "nitrous_oxide", "male_pregnant"
    ).distinct()
    joined = per_patient.left_join(by_order, per_patient.first == by_order.order)
    return joined.drop("first", "order")


def _repeated(t: ir.Table, count: ir.IntegerValue, reason: str) -> ir.Table:
    """``count`` reject rows of source "patients" per row of ``t`` (only rows with ``count`` > 0)."""
    t = t.mutate(n_=count).filter(lambda r: r.n_ > 0)
    t = t.select("patient_id", copy_=ibis.range(t.n_).unnest())
    return t.select(
        source=ibis.literal("patients"),
        patient_id=t.patient_id,
        date=ibis.null("string"),
        test=ibis.null("string"),
        value=ibis.null("string"),
        unit=ibis.null("string"),
        reason=ibis.literal(reason),
    )


def rejects(patients: ir.Table, administrations: ir.Table | None, attributes: ir.Table | None, as_of: date) -> ir.Table:
    """Every row that could not be used, with its reason and its values as given (trimmed)."""
    listed = patients.filter(patients.rejects.length() > 0)
    listed = listed.select("patient_id", row_=listed.rejects.unnest())
    parts = [
        listed.select(
            source=ibis.literal("observations"),
            patient_id=listed.patient_id,
            **{name: listed.row_[i] for i, name in enumerate(_REJECT_FIELDS)},
        )
    ]
    if administrations is not None:
        a = administrations.filter(~administrations.ok)
        parts.append(
            a.select(
                source=ibis.literal("administrations"),
                patient_id=a.patient_id,
                date=_text(a.raw_date),
                test=ibis.null("string"),
                value=_text(a.raw_dose),
                unit=ibis.null("string"),
                reason=administration_reason(a, as_of),
            )
        )
    if attributes is not None:
        p = attributes
        known = p.patient_id.notnull()
        # One row per patient is used: the others are duplicates; the one used is rejected too when it says
        # male and pregnant; rows without a patient id are all rejected.
        parts.append(_repeated(p, ibis.ifelse(known, 0, p.copies), Reason.MISSING_PATIENT))
        parts.append(_repeated(p, ibis.ifelse(known, p.copies - 1, 0), Reason.DUPLICATE_PATIENT))
        parts.append(_repeated(p, ibis.ifelse(known & p.male_pregnant.fill_null(False), 1, 0), Reason.MALE_PREGNANT))
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


def _by_rank(
    rank: ir.IntegerValue | None, present: ir.BooleanValue, values: Sequence[tuple[int, object]], dtype: str
) -> ir.Value:
    """A value chosen by the unit's rank: a CASE over the analyte's few units, or a constant when all agree
    (then ``rank`` may be None; ``present`` says whether there is a result)."""
    distinct = {value for _, value in values}
    if len(distinct) == 1:
        return ibis.ifelse(present, ibis.literal(distinct.pop(), dtype), ibis.null(dtype))
    assert rank is not None
    return ibis.cases(*((rank == r, ibis.literal(v, dtype)) for r, v in values), else_=ibis.null(dtype))


def _key_date(key: ir.IntegerValue) -> ir.DateValue:
    # ibis types date + interval as a date, both engines as a timestamp: the casts make the SQL say so.
    shifted = ibis.date(EPOCH) + (LAST_DAY - (key >> _DAY_SHIFT)).as_interval("D")
    return shifted.cast("timestamp").cast("date")


def _step(t: ir.Table) -> ir.Table:
    """A step boundary: the columns computed so far are computed once, and read by the next step.

    ibis merges consecutive projections by writing each column's expression into every expression that
    reads it; a CASE read by ten others is then evaluated ten times per row. A call of a function ibis
    treats as impure (here COALESCE of a constant, which costs nothing) stops that merge."""
    return t.mutate(step_=_same(ibis.literal(0, "int64"))).drop("step_")


@ibis.udf.scalar.builtin(name="coalesce")  # type: ignore[untyped-decorator]
def _same(value: int) -> int:  # type: ignore[empty-body]
    """COALESCE of one value: the value (see :func:`_step`)."""


def _decoded(p: ir.Table, data: RuleData) -> ir.Table:
    """The latest result of each reported test, decoded from its key: date, value, unit, flag, and for
    B12 the scale's band and whether the value was converted to meet it."""
    plan = vocabulary.conversions(data.thresholds)

    def choices(analyte: Analyte) -> dict[str, list[tuple[int, object]]]:
        mine = [c for c in plan if c.analyte is analyte]
        found: dict[str, list[tuple[int, object]]] = {"unit": [(c.rank, c.target) for c in mine]}
        if analyte in B12_ANALYTES:
            found["scale"] = [(c.rank, -1 if c.scale is None else c.scale) for c in mine]
            found["converted"] = [
                (c.rank, c.scale is not None and data.thresholds.scales[c.scale].dimension != c.unit.dimension)
                for c in mine
            ]
        return found

    fields: dict[str, ir.Value] = {}
    for analyte in REPORTED:
        name = analyte.value
        k = p[f"{name}_key"]
        fields[f"{name}_date"] = _key_date(k)
        fields[f"{name}_value"] = ((k >> _VALUE_SHIFT) & MAX_MICRO).cast("float64") / 1_000_000
        if any(len({v for _, v in values}) > 1 for values in choices(analyte).values()):
            fields[f"{name}_rank"] = ((k >> _RANK_SHIFT) & (2**RANK_BITS - 1)).cast("int32")
        if analyte in _NORMAL_BELOW:
            fields[f"{name}_flag"] = (k & 1) == 1
    p = _step(p.mutate(**fields))
    dtypes = {"unit": "string", "scale": "int32", "converted": "boolean"}
    by_rank: dict[str, ir.Value] = {}
    for analyte in REPORTED:
        name = analyte.value
        rank = p[f"{name}_rank"] if f"{name}_rank" in p.columns else None
        present = p[f"{name}_date"].notnull()
        for field, values in choices(analyte).items():
            by_rank[f"{name}_{field}"] = _by_rank(rank, present, values, dtypes[field])
    p = _step(p.mutate(**by_rank))
    bands = {
        f"{a.value}_band": _band_cases(data.thresholds, p[f"{a.value}_scale"], p[f"{a.value}_value"])
        for a in B12_ANALYTES
    }
    p = _step(p.mutate(**bands))
    return p.drop(*(c for c in p.columns if c.endswith(("_rank", "_scale"))))


def triage(
    patients: ir.Table,
    administrations: ir.Table | None,
    attributes: ir.Table | None,
    data: RuleData,
) -> ir.Table:
    """One row per patient: latest results, status, findings, next tests, flags, priority and action.

    ``patients`` is :func:`patients` and ``attributes`` :func:`normalise_attributes`, both materialised
    (each is read twice: here and by :func:`rejects`). The joins carry the compact keys; the keys are
    decoded after them."""
    total, active = Analyte.B12_TOTAL.value, Analyte.B12_ACTIVE.value
    keys = [f"{a.value}_key" for a in REPORTED]
    counts = patients.filter(patients.patient_id.notnull())
    # DuckDB's ARRAY_AGG of no rows is NULL, Spark's COLLECT_LIST an empty array.
    rejected = counts.rejects.length().cast("int64").fill_null(0)
    counts = counts.select(
        "patient_id",
        *keys,
        last_result=_key_date(counts.last_key),
        results=counts.rows - rejected,
        rejected_rows=rejected,
    )
    if administrations is not None:
        # Rows are filtered inside the aggregates, not before (a filter would be pushed below the parsing of
        # the text, and parse it twice); patients without a usable administration, and the group of rows
        # without a patient id, are left out after.
        a = administrations
        good = a.select(a_patient=a.patient_id, a_date=ibis.ifelse(a.ok, a.date, ibis.null("date")))
        samples = counts.filter(counts[f"{total}_key"].notnull() | counts[f"{active}_key"].notnull())
        samples = samples.select(
            s_patient=samples.patient_id,
            s_total=_key_date(samples[f"{total}_key"]),
            s_active=_key_date(samples[f"{active}_key"]),
        )
        j = good.left_join(samples, good.a_patient == samples.s_patient)
        # The last injection on or before each latest B12 sample, with the first and last of all.
        given = j.group_by(given_patient=j.a_patient).aggregate(
            first_injection=j.a_date.min(),
            last_injection=j.a_date.max(),
            injections=j.a_date.count(),
            total_before=j.a_date.max(where=j.a_date <= j.s_total),
            active_before=j.a_date.max(where=j.a_date <= j.s_active),
        )
        given = given.filter(given.injections > 0)
        u = counts.outer_join(given, counts.patient_id == given.given_patient)
        u = u.mutate(
            patient_id=u.patient_id.fill_null(u.given_patient),
            results=u.results.fill_null(0),
            rejected_rows=u.rejected_rows.fill_null(0),
            injections=u.injections.fill_null(0).cast("int64"),
        ).drop("given_patient")
    else:
        u = counts.mutate(
            first_injection=ibis.null("date"),
            last_injection=ibis.null("date"),
            injections=ibis.literal(0, "int64"),
            total_before=ibis.null("date"),
            active_before=ibis.null("date"),
        )
    # A projected join is viewed before it is joined again (ibis would otherwise extend the same join chain).
    p = u.view()
    if attributes is not None:
        attrs = attributes.filter(attributes.patient_id.notnull() & ~attributes.male_pregnant.fill_null(False))
        attrs = attrs.select(
            a_patient=attrs.patient_id,
            sex=attrs.sex,
            pregnant=attrs.pregnant,
            long_term=attrs.long_term,
            has_symptoms=attrs.has_symptoms,
            neurological=attrs.neurological,
            nitrous_oxide=attrs.nitrous_oxide,
        )
        p = p.left_join(attrs, p.patient_id == attrs.a_patient).drop("a_patient")
        p = p.mutate(
            pregnant=p.pregnant.fill_null(False),
            long_term=p.long_term.fill_null(False),
            has_symptoms=p.has_symptoms.fill_null(False),
            neurological=p.neurological.fill_null(False),
            nitrous_oxide=p.nitrous_oxide.fill_null(False),
        )
    else:
        p = p.mutate(
            sex=ibis.null("string"),
            pregnant=ibis.literal(False),
            long_term=ibis.literal(False),
            has_symptoms=ibis.literal(False),
            neurological=ibis.literal(False),
            nitrous_oxide=ibis.literal(False),
        )
    p = _decoded(_step(p), data).drop(*keys)
    for name, before in ((total, p.total_before), (active, p.active_before)):
        sample = p[f"{name}_date"]
        p = p.mutate(
            **{
                # DX-RECENT-INJ: the last injection on or before the sample, at most 14 days before it.
                f"{name}_recent": (before >= sample - ibis.interval(days=RECENT_INJECTION_DAYS)).fill_null(False),
                # Established on long-term replacement at the sample: the first injection at least the review
                # interval before it, and the last one within the longest maintenance interval (docs/triage.md).
                f"{name}_established": (
                    (p.first_injection <= sample - ibis.interval(months=data.established_months))
                    & (before >= sample - ibis.interval(months=data.maintenance_months))
                ).fill_null(False),
            }
        )
    return _derive(p.drop("total_before", "active_before"), data)


def _derive(p: ir.Table, data: RuleData) -> ir.Table:
    ts = data.thresholds

    def has(analyte: Analyte) -> ir.BooleanValue:
        return p[f"{analyte.value}_date"].notnull()

    total, active = Analyte.B12_TOTAL.value, Analyte.B12_ACTIVE.value
    p = p.mutate(
        total_status=_band_attribute(ts, p[f"{total}_band"], "status"),
        active_status=_band_attribute(ts, p[f"{active}_band"], "status"),
        b12_total_band=_band_attribute(ts, p[f"{total}_band"], "label"),
        b12_active_band=_band_attribute(ts, p[f"{active}_band"], "label"),
        total_rule=_band_attribute(ts, p[f"{total}_band"], "rule"),
        active_rule=_band_attribute(ts, p[f"{active}_band"], "rule"),
        total_raised=_band_attribute(ts, p[f"{total}_band"], "raised"),
        active_raised=_band_attribute(ts, p[f"{active}_band"], "raised"),
        total_recent=p[f"{total}_recent"],
        active_recent=p[f"{active}_recent"],
        male=(p.sex == "male").fill_null(False),
    )
    p = _step(p)
    # DX-RECENT-INJ: a B12 sample within 14 days after an injection is not classified.
    p = p.mutate(
        total_classified=p.total_status.notnull() & ~p.total_recent,
        active_classified=p.active_status.notnull() & ~p.active_recent,
    )
    p = _step(p)
    p = p.mutate(
        total_effective=ibis.ifelse(p.total_classified, p.total_status, ibis.null("string")),
        active_effective=ibis.ifelse(p.active_classified, p.active_status, ibis.null("string")),
    )
    p = _step(p)

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
    p = _step(p)
    p = p.mutate(
        status_rule=ibis.cases(
            (p.total_effective == p.status, p.total_rule),
            (p.active_effective == p.status, p.active_rule),
            else_=ibis.null("string"),
        ),
        b12_date=_later(p[f"{total}_date"], p[f"{active}_date"]),
    )
    p = _step(p)

    hb_limit = ibis.cases(
        (p.pregnant, ANAEMIA_HB_BELOW_G_L_PREGNANT),
        (p.male, ANAEMIA_HB_BELOW_G_L_MEN),
        else_=ANAEMIA_HB_BELOW_G_L_WOMEN,
    )
    mcv = p[f"{Analyte.MCV.value}_value"]
    folate = p[f"{Analyte.FOLATE.value}_value"]

    p = p.mutate(
        anaemia=(p[f"{Analyte.HEMOGLOBIN.value}_value"] < hb_limit).fill_null(False),
        macrocytosis=(mcv > DEFAULT_MCV_CUTOFF_FL).fill_null(False),
        # Above the lab's upper limit (in the unit reported) when given, else at or above a published
        # normal: the flag bit of the key (observations()).
        raised_mma=p[f"{Analyte.MMA.value}_flag"].fill_null(False),
        untreated=(p.last_injection.isnull() | (p.last_injection < p.b12_date)).fill_null(True),
    )
    p = _step(p)
    p = p.mutate(
        strong=p.neurological | (p.anaemia & p.macrocytosis),
        established=(p.long_term | p[f"{total}_established"] | p[f"{active}_established"]),
    )
    p = _step(p)
    # Every condition is a column, computed once: the texts, the priority and the action read them.
    has_b12 = has(Analyte.B12_TOTAL) | has(Analyte.B12_ACTIVE)
    review_due = data.review_due_before(pregnant=False)
    review_due_pregnant = data.review_due_before(pregnant=True)
    if review_due is not None and review_due_pregnant is not None:
        due = ibis.ifelse(p.pregnant, ibis.date(review_due_pregnant), ibis.date(review_due))
        review_overdue = (p.first_injection <= due) & (p.last_result.isnull() | (p.last_result <= p.first_injection))
    else:
        review_overdue = ibis.literal(False)
    conditions: dict[str, ir.BooleanValue] = {
        "has_b12": has_b12,
        "indeterminate": p.status == Status.INDETERMINATE.value,
        "confirmed": p.status == Status.CONFIRMED.value,
        "unlikely": p.status == Status.UNLIKELY.value,
        "next_preg": p.pregnant & ~has(Analyte.B12_ACTIVE),
        "next_hcy": p.nitrous_oxide & ~has(Analyte.HOMOCYSTEINE),
        "no_mma": (p.status == Status.INDETERMINATE.value) & p.has_symptoms & ~has(Analyte.MMA),
        "review_overdue": review_overdue,
        "injection_overdue": p.last_injection < ibis.date(data.injection_due_before),
        "recent": p.total_recent | p.active_recent,
        "retested": p.established & has_b12,
        "n2o_total_only": p.nitrous_oxide & has(Analyte.B12_TOTAL) & ~has(Analyte.HOMOCYSTEINE) & ~has(Analyte.MMA),
        "discordant": p.strong & (p.status != Status.CONFIRMED.value),
        "f_normal_mcv": mcv.notnull() & ~p.macrocytosis & (p.status == Status.CONFIRMED.value),
        "f_folate_deficiency": folate < FOLATE_DEFICIENT_BELOW_NMOL_L,
        "f_folate_indeterminate": (folate >= FOLATE_DEFICIENT_BELOW_NMOL_L)
        & (folate <= FOLATE_INDETERMINATE_UP_TO_NMOL_L),
        "f_total_raised": p.total_classified & p.total_raised,
        "f_active_raised": p.active_classified & p.active_raised,
        "f_total_converted": p.total_classified & p[f"{total}_converted"],
        "f_active_converted": p.active_classified & p[f"{active}_converted"],
        "f_not_classified": (has(Analyte.B12_TOTAL) & ~p.total_recent & p.total_status.isnull())
        | (has(Analyte.B12_ACTIVE) & ~p.active_recent & p.active_status.isnull()),
        "f_disagree": p.total_classified & p.active_classified & (p.total_status != p.active_status),
        "f_pregnancy": p.pregnant & ~has(Analyte.B12_ACTIVE) & has(Analyte.B12_TOTAL),
    }
    p = _step(p.mutate(**{name: c.fill_null(False) for name, c in conditions.items()}))
    p = _step(
        p.mutate(
            next_total=~p.next_preg & ~has(Analyte.B12_TOTAL) & ~has(Analyte.B12_ACTIVE) & ~p.nitrous_oxide,
            not_classified=p.has_b12 & ~p.total_classified & ~p.active_classified & ~p.recent,
        )
    )
    findings = _joined(
        [
            (p.anaemia, "anaemia:LAB-HB"),
            (p.macrocytosis, "macrocytosis:LAB-MCV"),
            (p.f_normal_mcv, "normal_mcv:LAB-MCV"),
            (p.f_folate_deficiency, "folate_deficiency:LAB-FOLATE"),
            (p.f_folate_indeterminate, "folate_indeterminate:LAB-FOLATE"),
            (p.raised_mma, "raised_mma:DX-MMA"),
            (p[f"{Analyte.HOMOCYSTEINE.value}_flag"], "raised_homocysteine:LAB-HCY"),
            (p.f_total_raised, "raised_b12:" + p.total_rule),
            (p.f_active_raised, "raised_b12:" + p.active_rule),
            (p.f_total_converted, "converted_for_scale:" + p.total_rule),
            (p.f_active_converted, "converted_for_scale:" + p.active_rule),
            (p.f_not_classified, "b12_not_classified:DX-NO-SCALE"),
            (p.f_disagree, "b12_tests_disagree:DX-TWO-TESTS"),
            (p.f_pregnancy, "pregnancy_total_b12:DX-PREG"),
        ]
    )
    next_tests = _joined(
        [
            (p.next_preg, "b12_active:DX-PREG"),
            (p.next_total, "b12_total:DX-TEST"),
            (p.next_hcy, "homocysteine:DX-N2O"),
            (p.no_mma, "mma:DX-MMA"),
        ]
    )
    flags = _joined(
        [
            (p.injection_overdue, f"injection_overdue:{data.maintenance_rule}"),
            (p.review_overdue, "review_overdue:FU-UK"),
            (p.recent, "recent_injection:DX-RECENT-INJ"),
            (p.retested, "retested_on_replacement:FU-NO-RETEST"),
            (p.n2o_total_only, "n2o_total_b12_only:DX-N2O"),
            (p.no_mma, "indeterminate_symptoms_no_mma:DX-MMA"),
            (p.discordant, "strong_features_not_confirmed:DX-DISCORD"),
        ]
    )
    urgent = p.confirmed & p.neurological & p.untreated
    high = (p.confirmed & p.untreated) | (p.discordant & p.untreated) | p.injection_overdue
    anything = (
        p.next_preg | p.next_total | p.next_hcy | p.no_mma | p.review_overdue | p.recent | p.retested | p.n2o_total_only
    )
    priority = ibis.cases((urgent, 1), (high, 2), (anything | p.indeterminate, 3), else_=4)
    applies = {
        "NEURO-URGENT": urgent,
        "DX-DISCORD": p.discordant & p.untreated,
        "start": p.confirmed & p.untreated,
        "injection": p.injection_overdue,
        "FU-NO-RETEST": p.retested,
        "DX-RECENT-INJ": p.recent,
        "DX-PREG": p.next_preg,
        "DX-N2O": p.next_hcy,
        "DX-MMA": p.no_mma,
        "DX-TEST": p.next_total,
        "review": p.review_overdue,
        "indeterminate": p.indeterminate,
        "continue": p.confirmed,
        "DX-NO-SCALE": p.not_classified,
        "unlikely": p.unlikely,
    }
    # The first action that applies, as its index in _ACTIONS (then its text and its rule).
    action_index = ibis.cases(
        *((applies[key], ibis.literal(i, "int8")) for i, (key, _, _) in enumerate(_ACTIONS)),
        else_=ibis.null("int8"),
    )
    p = _step(
        p.mutate(
            findings=findings,
            next_tests=next_tests,
            flags=flags,
            priority=priority.cast("int32"),
            action_index=action_index,
        )
    )

    def rule(spec: str) -> ir.StringValue | str:
        return {"status": p.status_rule, "maintenance": data.maintenance_rule}.get(spec, spec)

    p = p.mutate(
        action=p.action_index.cases(*((i, text) for i, (_, text, _) in enumerate(_ACTIONS)), else_=NO_ACTION),
        action_rule=ibis.cases(
            *((p.action_index == i, rule(spec)) for i, (_, _, spec) in enumerate(_ACTIONS)),
            else_=ibis.null("string"),
        ),
        priority_label=p.priority.cases(*PRIORITY_LABELS.items(), else_=None),
    )
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


def output_categories(data: RuleData) -> dict[str, tuple[str, ...]]:
    """Every value each categorical text column of the output can take (from the same data as the rules)."""
    ts = data.thresholds
    plan = vocabulary.conversions(ts)
    specials = {"status", "maintenance"}
    rules_cited = {spec for _, _, spec in _ACTIONS if spec not in specials}
    rules_cited |= {data.maintenance_rule} | {scale.rule for scale in ts.scales}
    labels = tuple(sorted({band.label for scale in ts.scales for band in scale.bands}))
    categories = {
        "status": tuple(status.value for status in Status),
        "priority_label": tuple(PRIORITY_LABELS.values()),
        "action": (*(text for _, text, _ in _ACTIONS), NO_ACTION),
        "action_rule": tuple(sorted(rules_cited)),
        "sex": ("female", "male"),
        "b12_total_band": labels,
        "b12_active_band": labels,
    }
    for analyte in REPORTED:
        categories[f"{analyte.value}_unit"] = tuple(sorted({c.target for c in plan if c.analyte is analyte}))
    return categories


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
