"""A prescription as written on the label: read into phases, shown back in plain words, checked against a guideline.

A patient without a clinician account enters what the label says (the seeds' advice: write down the strength,
with its unit, and the frequency): structured fields, plus a free-text line such as
``"1000 mcg/mL, inject 1 mL IM once a week for 4 weeks then monthly"``. :func:`parse_prescription` reads the
common forms into :class:`~b12.domain.regimen.Phase` values and :meth:`Prescription.describe` says them back
("1 mg (1 mL of 1000 mcg/mL) by injection into a muscle once a week for 4 weeks (4 injections), then once a
month") for the patient to confirm. The contract:

- Nothing is guessed. Whatever is missing, contradictory or not understood becomes a :class:`Question` with
  the form field it belongs to ("How often after the first 4 weeks?"); a dose in mL without a strength, in
  syringe units without a named syringe, in IU, or "twice a day" are questions, never conversions.
- What the label states is taken as stated: a later part without its own dose or route ("then monthly")
  repeats the part before it, and the read-back says so in full so the patient can correct it. The last
  part without an end runs on (a maintenance phase); an earlier part without an end is a question.
- A range ("every 2–3 months", "for 4–8 weeks") is kept beside the value scheduled, which is the longer
  interval and the full count, as for guideline regimens (b12.domain.regimen).
- The phases carry the rule ``RX-PATIENT`` (b12's own) and no sources: they come from the patient's label,
  not from a guideline. :func:`check_against_guideline` then compares them with the guideline data and
  reports each difference as an :class:`~b12.domain.alerts.Alert` citing the regimen it differs from.
- Routes: the domain's :class:`~b12.domain.case.Route` has no subcutaneous value, so an injection under the
  skin is an injected (``Route.IM``) phase with ``Prescription.subcutaneous`` set and its words kept; the
  guideline check flags hydroxocobalamin under the skin (SAFE-IV).
"""

from __future__ import annotations

import math
import re
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace

from b12.domain.alerts import Alert, Severity
from b12.domain.case import Condition, Route
from b12.domain.errors import CaseError, UnitError, UnknownGuidelineError
from b12.domain.guidelines import Guideline, find_rule
from b12.domain.regimen import Ending, Frequency, IntervalUnit, Phase, PhaseKind, Product, Regimen, Span
from b12.domain.units import (
    Dimension,
    Strength,
    Syringe,
    dose_from_syringe_units,
    dose_volume,
    format_number,
    parse_quantity,
    parse_strength,
    parse_syringe,
    quantity,
)

__all__ = [
    "RX_RULES",
    "Prescription",
    "Question",
    "UnclearPrescriptionError",
    "check_against_guideline",
    "matching_regimen",
    "parse_prescription",
    "read_dose",
]

RULE = "RX-PATIENT"

# Rule IDs b12 adds for prescriptions entered by a patient, with their basis.
RX_RULES: Mapping[str, str] = {
    "RX-PATIENT": "Phases read from a prescription label the patient typed, and confirmed by them; they are the "
    "prescriber's, not a guideline's (no source).",
    "RX-NO-REGIMEN": "The guideline data has no regimen for this product and route, so b12 cannot compare the "
    "prescription with it (no source).",
    "RX-STRENGTH": "The strength differs from the product strength in the guideline data, so the volume to draw "
    "differs from the guideline's examples (b12's own check; strengths from the guideline data).",
}

# Regimens that apply only with a condition: compared only when the patient has it.
CONDITION_REGIMENS: Mapping[str, frozenset[Condition]] = {
    "UK-TA-LEBER": frozenset({Condition.LEBER, Condition.TOBACCO_AMBLYOPIA}),
}

# Two intervals "fit" when they are within 10% of each other or of the label's range (so "every 4 weeks"
# fits "monthly"); a b12 choice for comparing a written interval with a label, not a clinical threshold.
INTERVAL_SLACK = 0.10

_UNIT_DAYS: Mapping[IntervalUnit, float] = {IntervalUnit.DAY: 1.0, IntervalUnit.WEEK: 7.0, IntervalUnit.MONTH: 30.4375}


class UnclearPrescriptionError(CaseError):
    """A prescription with open questions was used to start a course; ``questions`` lists them all."""

    def __init__(self, questions: Sequence[Question]) -> None:
        self.questions = tuple(questions)
        first = self.questions[0] if self.questions else Question("text", "The prescription has no phases.")
        super().__init__(first.field, first.text)


@dataclass(frozen=True, slots=True)
class Question:
    """Something b12 needs to be told: ``field`` is the form field it belongs to (``phases[1].frequency``)."""

    field: str
    text: str


@dataclass(frozen=True, slots=True)
class Prescription:
    """A prescription as read: its phases when complete, else the questions that stand in the way."""

    text: str | None
    product: Product | None
    strength: Strength | None
    strength_text: str | None
    syringe: Syringe | None
    route: Route | None
    subcutaneous: bool
    phases: tuple[Phase, ...]
    lifelong: bool
    questions: tuple[Question, ...]
    parts: tuple[str, ...] = field(default=())  # each phase in plain words, in order

    @property
    def complete(self) -> bool:
        return not self.questions and bool(self.phases)

    @property
    def dose_mg(self) -> float | None:
        return self.phases[0].dose_mg if self.phases else None

    def describe(self) -> str:
        """The prescription in plain words, for the patient to confirm."""
        if not self.parts:
            return "Not understood yet: " + " ".join(q.text for q in self.questions)
        return ", then ".join(self.parts)


# --- normalising the text -------------------------------------------------------------------------------

_NUMBER_WORDS: Mapping[str, str] = {
    "one": "1",
    "two": "2",
    "three": "3",
    "four": "4",
    "five": "5",
    "six": "6",
    "seven": "7",
    "eight": "8",
    "nine": "9",
    "ten": "10",
    "eleven": "11",
    "twelve": "12",
    "fourteen": "14",
}
_NUM = r"(?<![\d.])(?:\d+(?:\.\d+)?|\.\d+)(?![\d.])"


def _normalise(text: str) -> str:
    text = text.replace("µ", "mc").replace("μ", "mc").replace("×", "x")
    text = re.sub(r"[–—−]", "-", text.lower())
    text = re.sub(r"\b(" + "|".join(_NUMBER_WORDS) + r")\b", lambda m: _NUMBER_WORDS[m[1]], text)
    text = re.sub(r"(\d)\s*(?:-|to)\s*(\d)", r"\1-\2", text)
    return " ".join(text.split())


class _Text:
    """A text whose understood parts are cut out as they are read; what is left is checked at the end."""

    def __init__(self, text: str) -> None:
        self.text = text

    def take(self, pattern: str) -> re.Match[str] | None:
        match = re.search(pattern, self.text)
        if match is not None:
            self.text = self.text[: match.start()] + " " + self.text[match.end() :]
        return match

    def take_all(self, pattern: str) -> list[re.Match[str]]:
        found: list[re.Match[str]] = []
        while (match := self.take(pattern)) is not None:
            found.append(match)
        return found


# Words that carry no schedule information on a label ("inject", "the", "as directed").
_FILLER = frozenset(
    [
        "inject",
        "injected",
        "injecting",
        "injection",
        "injections",
        "injectable",
        "give",
        "given",
        "giving",
        "take",
        "taken",
        "taking",
        "administer",
        "administered",
        "use",
        "using",
        "have",
        "receive",
        "dose",
        "doses",
        "each",
        "time",
        "the",
        "a",
        "an",
        "of",
        "and",
        "to",
        "by",
        "in",
        "into",
        "on",
        "at",
        "with",
        "as",
        "directed",
        "please",
        "solution",
        "ampoule",
        "ampoules",
        "ampule",
        "ampules",
        "vial",
        "vials",
        "vitamin",
        "b12",
        "b-12",
        "label",
        "prescription",
        "rx",
        "sig",
        "per",
        "from",
        "this",
        "your",
        "you",
        "also",
        "start",
        "starting",
        "today",
        "now",
        "then",
        "syringe",
        "insulin",
        "shot",
        "shots",
        "jab",
        "jabs",
        "medicine",
        "medication",
        "is",
        "be",
    ]
)

# --- the patterns ---------------------------------------------------------------------------------------

_MASS_UNIT = r"(?:mcg|micrograms?|microgrammes?|ug|mg|milligrams?|milligrammes?)"
_VOLUME_UNIT = r"(?:ml|millilitres?|milliliters?|cc)"
_STRENGTH = (
    rf"(?P<mass>{_NUM})\s*(?P<mu>{_MASS_UNIT})\s*(?:/|per|in(?: each| every)?)\s*(?P<vol>{_NUM})?\s*"
    rf"(?P<vu>{_VOLUME_UNIT})\b"
)
_ITEMS = r"(?:tablets?|tabs?|capsules?|caps|lozenges?|sprays?|puffs?)"
_PER_ITEM = (
    rf"(?:(?P<count>{_NUM})(?: ?x ?| ))?(?P<mass>{_NUM}) ?(?P<mu>{_MASS_UNIT}) ?(?:/|per|in each|each)? ?"
    rf"(?P<item>{_ITEMS})\b"
    rf"|(?:(?P<count2>{_NUM}) ?)?(?P<item2>{_ITEMS}) (?:of|containing|each) (?P<mass2>{_NUM}) ?(?P<mu2>{_MASS_UNIT})\b"
)
_SYRINGE = r"\b(?P<name>u-?100|u-?40)\b(?:\s*(?:insulin\s*)?syringes?)?"
_DOTTED = r"(?![\w.])"  # after an abbreviation written with full stops ("i.m."), where \b does not work
# REFERENCE §9: "vitamin B12 doses are expressed by mass (µg/mcg or mg), not IU" ("IUs" too).
_IU = rf"(?P<n>{_NUM})?\s*(?:\bius?\b|\bi\.u\.?{_DOTTED}|\binternational units?\b)"

_HYDROXO = r"\b(?:hydroxo-?cobalamin|hydroxy-?cobalamin|hydroxo|cobalin(?:-h)?|neo-?cytamen)\b"
_CYANO = r"\b(?:cyano-?cobalamin|cyano|cytamen|nascobal)\b"
_OTHER_COBALAMIN = r"\b(?:methyl-?cobalamin|mecobalamin|adenosyl-?cobalamin|cobamamide)\b"

_SC = (
    rf"\b(?:deep\s+)?(?:sc|sq|subq|sub-?cut(?:aneous(?:ly)?)?|subcutaneous(?:ly)?)\b|\b(?:deep\s+)?s\.c\.?{_DOTTED}"
    r"|\bunder the skin\b"
)
_IM = rf"\b(?:im|intra-?muscular(?:ly)?)\b|\bi\.m\.?{_DOTTED}|\binto (?:a|the) muscle\b|\bin the muscle\b"
_IV = rf"\b(?:iv|intravenous(?:ly)?)\b|\bi\.v\.?{_DOTTED}"
_ORAL = rf"\b(?:oral(?:ly)?|by mouth|po|swallow(?:ed)?)\b|\bp\.o\.?{_DOTTED}"
_NASAL = r"\b(?:intra-?nasal(?:ly)?|nasal(?:ly)?|in(?:to)? (?:1|each|the|a) nostril|nostrils?|in the nose)\b"
_INJECT = r"\b(?:inject(?:ed|ion|ions)?|jabs?|shots?)\b"

_CLINICAL = (
    (r"\buntil (?:there is )?no (?:further|more) improvement\b|\buntil improvement stops\b", "no further improvement"),
    (
        r"\b(?:as long as|while) (?:the )?improvement (?:continues|is (?:seen|maintained|occurring))\b"
        r"|\bwhile improving\b",
        "as long as improvement continues",
    ),
    (r"\buntil (?:the )?blood counts? (?:is |are )?normal\b", "the blood count is normal"),
)
_LIFELONG = r"\bfor life\b|\blife-?\s?long\b|\bfor the rest of (?:your|my|his|her|their) life\b|\bpermanently\b"
_OPEN = (
    r"\bindefinitely\b|\blong-?\s?term\b|\bongoing\b|\buntil further notice\b"
    r"|\buntil (?:told|advised) (?:to stop|otherwise)\b|\bcontinu(?:e|ing)\b"
)
_UNTIL = r"\buntil\b[^,;()]*"
_DURATION = (
    r"\bfor (?:a further |another |the next |the first )?(?P<low>\d+|a|an)(?:-(?P<high>\d+))?\s*"
    r"(?P<unit>day|week|month)s?\b"
)
_COUNT = (
    r"\(?\b(?:for )?(?:a total of )?(?P<low>\d+)(?:-(?P<high>\d+))?\s*(?:doses|injections|shots|jabs|ampoules|"
    r"treatments)\b(?: in total)?\)?"
)

_UNSUPPORTED_FREQUENCY = (
    r"\btwice (?:a |per |each )?day\b|\btwice daily\b|\b(?:bd|bid|tds|tid|qds|qid)\b"
    r"|\b(?:[2-9]|1\d) ?(?:x|times) (?:a |per |each |/)?day\b"
    r"|\btwice (?:a |per )?month\b|\b(?:[2-9]) ?(?:x|times) (?:a |per )?month\b"
)


@dataclass(frozen=True, slots=True)
class _Dose:
    kind: str  # "mass" (mg), "volume" (mL), "units" (syringe units), "items" (tablets, sprays)
    value: float
    written: str
    item: str | None = None


@dataclass(frozen=True, slots=True)
class _EndWords:
    kind: Ending
    until: str | None = None
    lifelong: bool = False
    duration: tuple[int, int, IntervalUnit] | None = None  # low, high, unit
    count: tuple[int, int] | None = None


@dataclass(slots=True)
class _Segment:
    index: int
    dose: _Dose | None = None
    route: Route | None = None
    subcutaneous: bool = False
    injected: bool = False
    frequency: Frequency | None = None
    end: _EndWords | None = None
    duration: tuple[int, int, IntervalUnit] | None = None
    count: tuple[int, int] | None = None
    questions: list[Question] = field(default_factory=list)
    leftovers: list[str] = field(default_factory=list)


def _frequency(text: _Text, where: str, questions: list[Question]) -> Frequency | None:
    """The first frequency in ``text`` (taken out of it), or None; unsupported ones become questions."""
    if (match := text.take(_UNSUPPORTED_FREQUENCY)) is not None:
        questions.append(
            Question(
                where,
                f"b12 records at most one dose a day and a schedule of whole days, weeks or months; "
                f"{match[0]!r} does not fit. How much is taken in a day, and how often?",
            )
        )
        return None
    if m := text.take(
        r"\b(?P<n>\d+) ?(?:x|times) ?(?:a |per |each |every |/)?(?:week|wk)\b|\b(?P<m>\d+) ?(?:x|times) weekly\b"
    ):
        n = int(m["n"] or m["m"])
        if not 1 <= n <= 7:
            questions.append(Question(where, f"{n} times a week is more than once a day: how often exactly?"))
            return None
        return Frequency(1, IntervalUnit.WEEK) if n == 1 else Frequency(1, IntervalUnit.WEEK, times_per_week=n)
    if m := text.take(r"\b(?P<w>once|twice|thrice) ?(?:a |per |each |every )?week(?:ly)?\b"):
        n = {"once": 1, "twice": 2, "thrice": 3}[m["w"]]
        return Frequency(1, IntervalUnit.WEEK) if n == 1 else Frequency(1, IntervalUnit.WEEK, times_per_week=n)
    if text.take(r"\bevery other day\b|\b(?:on )?alternate days?\b|\bevery second day\b|\bevery 48 ?(?:hours|hrs|h)\b"):
        return Frequency(2, IntervalUnit.DAY)
    if m := text.take(r"\bevery (?:other|second) (?P<unit>week|month)\b|\b(?:on )?alternate (?P<units>week|month)s\b"):
        return Frequency(2, IntervalUnit(m["unit"] or m["units"]))
    if m := text.take(r"\b(?:once )?every (?P<low>\d+)(?:-(?P<high>\d+))? ?(?P<unit>day|week|month)s?\b"):
        return _interval(int(m["low"]), int(m["high"] or m["low"]), IntervalUnit(m["unit"]), where, questions)
    if m := text.take(r"\bevery (?P<h>\d+) ?(?:hours|hrs|h)\b"):
        hours = int(m["h"])
        if hours % 24 == 0:
            return Frequency(hours // 24, IntervalUnit.DAY)
        questions.append(Question(where, f"Every {hours} hours is not a whole number of days: how often exactly?"))
        return None
    if m := text.take(r"\b(?P<low>\d+)(?:-(?P<high>\d+))? ?-?(?P<word>weekly|monthly)\b"):
        unit = IntervalUnit.WEEK if m["word"] == "weekly" else IntervalUnit.MONTH
        return _interval(int(m["low"]), int(m["high"] or m["low"]), unit, where, questions)
    if text.take(r"\btwice (?:a |per )?year\b|\bsix-?monthly\b|\bhalf-?yearly\b"):
        return Frequency(6, IntervalUnit.MONTH)
    if text.take(r"\bquarterly\b"):
        return Frequency(3, IntervalUnit.MONTH)
    if text.take(r"\b(?:yearly|annually|once a year|every year)\b"):
        return Frequency(12, IntervalUnit.MONTH)
    if text.take(r"\b(?:every )?fortnight(?:ly)?\b"):
        return Frequency(2, IntervalUnit.WEEK)
    if m := text.take(
        r"\b(?:once )?every (?:single )?(?P<a>day|week|month|morning|evening|night)\b"
        r"|\b(?:once |1 ?x )?(?:a|per|each) (?P<b>day|week|month)\b"
        r"|\bonce (?P<c>daily|weekly|monthly)\b|\b(?P<d>daily|weekly|monthly|od|qd)\b|\bonce a (?P<e>day|week|month)\b"
    ):
        word = next(g for g in m.groups() if g)
        unit = {
            "day": IntervalUnit.DAY,
            "morning": IntervalUnit.DAY,
            "evening": IntervalUnit.DAY,
            "night": IntervalUnit.DAY,
            "daily": IntervalUnit.DAY,
            "od": IntervalUnit.DAY,
            "qd": IntervalUnit.DAY,
            "week": IntervalUnit.WEEK,
            "weekly": IntervalUnit.WEEK,
        }.get(word, IntervalUnit.MONTH)
        return Frequency(1, unit)
    return None


def _interval(low: int, high: int, unit: IntervalUnit, where: str, questions: list[Question]) -> Frequency | None:
    if low < 1 or high < low:
        questions.append(Question(where, f"'every {low}-{high} {unit.value}s' is not a range b12 can read: how often?"))
        return None
    return Frequency(high, unit, every_range=Span(low, high) if low != high else None)


def _end_words(text: _Text, where: str, questions: list[Question]) -> _EndWords | None:
    for pattern, until in _CLINICAL:
        if text.take(pattern):
            return _EndWords(Ending.CLINICAL, until=until)
    if text.take(_LIFELONG):
        return _EndWords(Ending.CONTINUING, until="for life", lifelong=True)
    if m := text.take(_OPEN):
        return _EndWords(Ending.CONTINUING, until=m[0])
    if m := text.take(_UNTIL):
        questions.append(
            Question(
                where,
                f"b12 did not understand {m[0].strip()!r}: when does this part end (a number of weeks or "
                "doses, 'until no further improvement', or 'for life')?",
            )
        )
    return None


def _dose(text: _Text, where: str, questions: list[Question]) -> _Dose | None:
    if m := text.take(_IU):
        questions.append(
            Question(
                where,
                f"{m[0].strip()!r}: vitamin B12 doses are by weight (micrograms or mg), not international units, and "
                "there is no IU conversion for B12. What does the label say in mcg or mg?",
            )
        )
        return None
    per_item = text.take(_PER_ITEM)
    if m := text.take(rf"(?<![\d.])(?P<n>{_NUM}) ?(?P<u>{_MASS_UNIT})\b"):
        mg = _mass_mg(m["n"], m["u"], where, questions)
        return None if mg is None else _Dose("mass", mg, m[0].strip())
    if per_item is not None:
        item = per_item["item"] or per_item["item2"]
        mass, unit = per_item["mass"] or per_item["mass2"], per_item["mu"] or per_item["mu2"]
        written = per_item["count"] or per_item["count2"]
        if written is None and (count := text.take(rf"(?<![\d.])(?P<n>{_NUM}) ?{_ITEMS}\b")) is not None:
            written = count["n"]
        # "a 1 mg tablet" is one tablet; "1 mg tablets" does not say how many.
        n = float(written) if written else (1.0 if not item.endswith("s") else None)
        if n is None:
            questions.append(Question(where, f"How many {item} each time?"))
            return None
        each = _mass_mg(mass, unit, where, questions)
        if each is None:
            return None
        # Rounded once to remove float noise (3 × 0.05 mg), as a volume is: 0.15000000000000002 mg would fall
        # outside REFERENCE §11 "UK-ORAL-DIET: oral cyanocobalamin 50–150 micrograms/day".
        return _Dose("mass", round(each * n, 9), f"{format_number(n)} × {mass} {unit} {item.rstrip('s')}", item=item)
    if m := text.take(rf"(?<![\d.])(?P<n>{_NUM}) ?(?P<u>{_VOLUME_UNIT})\b"):
        return _Dose("volume", float(m["n"]), f"{m['n']} mL")
    if m := text.take(rf"(?<![\d.])(?P<n>{_NUM}) ?units?\b"):
        return _Dose("units", float(m["n"]), f"{m['n']} units")
    if m := text.take(rf"(?<![\d.])(?P<n>{_NUM}) ?(?P<item>{_ITEMS})\b"):
        return _Dose("items", float(m["n"]), f"{m['n']} {m['item']}", item=m["item"])
    return None


def _mass_mg(number: str, unit: str, where: str, questions: list[Question]) -> float | None:
    """The weight in mg, or None with a question: "0 mg" or a weight beyond the input sanity bounds is
    asked about like everything else, never raised out of :func:`parse_prescription`."""
    try:
        return parse_quantity(f"{number} {unit}", dimension=Dimension.MASS).to("mg").value
    except UnitError as error:
        questions.append(Question(where, str(error)))
        return None


_COMMA_QUESTION = (
    "Write numbers without commas (1000, or 0.5 with a point): b12 does not guess whether a comma "
    "separates thousands or decimals."
)


def _typed_dose(text: str, where: str, questions: list[Question]) -> _Dose | None:
    """A dose typed on its own (the dose field, a dose given), read as a label line is: a comma in a number, a
    minus sign or a word left over is a question, so "1,500 mcg" is never 500 mcg, "1e3 mcg" never 3 mcg and
    "-1 mg" never 1 mg."""
    line = _normalise(text)
    if re.search(r"\d,\d", line):
        questions.append(Question(where, _COMMA_QUESTION))
        return None
    if re.match(r"\s*-\s*[\d.]", line):
        questions.append(Question(where, f"{text.strip()!r}: a dose cannot be negative. How much was it?"))
        return None
    body = _Text(line)
    dose = _dose(body, where, questions)
    leftovers = [w for w in re.findall(r"[a-z0-9][a-z0-9./'-]*", body.text) if w not in _FILLER]
    if dose is not None and leftovers:
        questions.append(
            Question(
                where,
                f"b12 did not understand {' '.join(leftovers)!r} in the dose {text.strip()!r}: write it as 1 mL, "
                "1 mg or 1000 mcg.",
            )
        )
        return None
    return dose


def _route(text: _Text, segment: _Segment) -> None:
    where = f"phases[{segment.index}].route"
    if text.take(_IV):
        segment.questions.append(
            Question(
                where,
                "b12 does not track intravenous B12: cyanocobalamin is almost all lost in the urine when given into "
                "a vein, and the labels give it by intramuscular injection. How is it given?",
            )
        )
    found: list[str] = []
    if text.take(_SC):
        found.append("under the skin (SC)")
        segment.route, segment.subcutaneous = Route.IM, True
    if text.take(_IM):
        found.append("into a muscle (IM)")
        segment.route = Route.IM
    if text.take(_ORAL):
        found.append("by mouth")
        segment.route = Route.ORAL
    if text.take(_NASAL):
        found.append("in the nose")
        segment.route = Route.NASAL
    if len(found) > 1:
        segment.questions.append(Question(where, f"The label names more than one route ({', '.join(found)}): which?"))
        segment.route, segment.subcutaneous = None, False
    if text.take_all(_INJECT):
        segment.injected = True
        if segment.route in (Route.ORAL, Route.NASAL):
            segment.questions.append(Question(where, "The label says both an injection and another route: which?"))


def _segment(index: int, raw: str) -> _Segment:
    segment = _Segment(index)
    text = _Text(raw)
    where = f"phases[{index}]"
    segment.end = _end_words(text, f"{where}.ending", segment.questions)
    if m := text.take(_COUNT):
        segment.count = (int(m["low"]), int(m["high"] or m["low"]))
    if m := text.take(_DURATION):
        low = 1 if m["low"] in ("a", "an") else int(m["low"])
        segment.duration = (low, int(m["high"] or low), IntervalUnit(m["unit"]))
    _route(text, segment)
    segment.frequency = _frequency(text, f"{where}.frequency", segment.questions)
    segment.dose = _dose(text, f"{where}.dose", segment.questions)
    if segment.dose is not None and segment.dose.item is not None and segment.route is None:
        item = segment.dose.item
        segment.route = Route.NASAL if item.startswith(("spray", "puff")) else Route.ORAL
    segment.leftovers = [w for w in re.findall(r"[a-z0-9][a-z0-9./'-]*", text.text) if w not in _FILLER]
    return segment


# --- from segments to phases ----------------------------------------------------------------------------


def _resolve_mg(
    dose: _Dose, strength: Strength | None, syringe: Syringe | None, where: str, questions: list[Question]
) -> float | None:
    try:
        if dose.kind == "mass":
            return quantity(dose.value, "mg").value
        if dose.kind == "volume":
            if strength is None:
                questions.append(
                    Question(
                        "strength",
                        f"The dose is written as {dose.written}: what strength is on the label (for example "
                        "1000 mcg/mL or 1 mg/mL)? Without it b12 cannot tell how much B12 that is.",
                    )
                )
                return None
            # Rounded once to remove float noise (0.3 × 1 mg/mL), far below any dose step.
            return quantity(round(quantity(dose.value, "mL").value * strength.mg_per_ml, 9), "mg").value
        if dose.kind == "units":
            missing = []
            if syringe is None:
                missing.append("which syringe it is read on (U-100 or U-40)")
            if strength is None:
                missing.append("the strength on the label (for example 1000 mcg/mL)")
            if missing:
                questions.append(
                    Question(
                        "syringe" if syringe is None else "strength",
                        f"The dose is written as {dose.written}: syringe units are marks of volume, not an amount of "
                        f"B12. Say {' and '.join(missing)}.",
                    )
                )
                return None
            if strength is None or syringe is None:  # pragma: no cover - both checked just above
                return None
            return dose_from_syringe_units(dose.value, strength, syringe).dose.to("mg").value
        questions.append(
            Question(
                where,
                f"How much B12 is in one {dose.item.rstrip('s') if dose.item else 'of them'} "
                "(for example 1 mg or 50 micrograms)?",
            )
        )
        return None
    except UnitError as error:
        questions.append(Question(where, str(error)))
        return None


def _ending(
    segment: _Segment, frequency: Frequency, last: bool, questions: list[Question], what: str
) -> tuple[Ending, int | None, Span | None, int | None, str | None, bool, str | None]:
    """(ending, doses, doses_range, duration_days, until, lifelong, duration words)."""
    where = f"phases[{segment.index}].ending"
    if segment.end is not None:
        if segment.duration or segment.count:
            questions.append(Question(where, f"The {what} part has both a length and '{segment.end.until}': which?"))
        return segment.end.kind, None, None, None, segment.end.until, segment.end.lifelong, None
    if segment.duration is None and segment.count is None:
        if last:
            return Ending.CONTINUING, None, None, None, None, False, None
        questions.append(Question(where, f"How long does the {what} part last (how many weeks, or how many doses)?"))
        return Ending.CONTINUING, None, None, None, None, False, None
    words: str | None = None
    from_duration: tuple[int, int] | None = None
    days: int | None = None
    if segment.duration is not None:
        low, high, unit = segment.duration
        words = f"{low}–{high} {unit.value}s" if low != high else f"{high} {unit.value}{'s' if high != 1 else ''}"
        from_duration, days = _count_from_duration(frequency, low, high, unit)
        if from_duration is None and days is None:
            # A month is 28 to 31 days: "weekly for a month" may mean 4 doses or 5, so b12 asks.
            questions.append(Question(where, f"How many weeks, or how many doses, is {words} of {what}?"))
            return Ending.CONTINUING, None, None, None, None, False, words
    if segment.count is not None:
        if from_duration is not None and from_duration != segment.count:
            questions.append(
                Question(
                    where,
                    f"The label says {words} and {_range_text(*segment.count)} doses, but {what} for {words} is "
                    f"{_range_text(*from_duration)} doses: which is right?",
                )
            )
        low_count, high_count = segment.count
    elif from_duration is not None:
        low_count, high_count = from_duration
    else:
        return Ending.DURATION, None, None, days, None, False, words
    return (
        Ending.COUNT,
        high_count,
        Span(low_count, high_count) if low_count != high_count else None,
        None,
        None,
        False,
        words,
    )


def _count_from_duration(
    frequency: Frequency, low: int, high: int, unit: IntervalUnit
) -> tuple[tuple[int, int] | None, int | None]:
    """A whole number of doses for a duration, else its length in days (None, None: cannot be told)."""
    if unit is IntervalUnit.MONTH:
        if frequency.unit is IntervalUnit.MONTH and not frequency.times_per_week and high % frequency.every == 0:
            return (max(1, math.ceil(low / frequency.every)), high // frequency.every), None
        return None, None
    days_low, days_high = low * int(_UNIT_DAYS[unit]), high * int(_UNIT_DAYS[unit])
    if frequency.times_per_week:
        if days_high % 7 == 0:
            per_week = frequency.times_per_week
            return (max(1, math.ceil(days_low * per_week / 7)), days_high * per_week // 7), None
        return None, days_high
    if frequency.unit is IntervalUnit.MONTH:
        return None, days_high
    period = frequency.every * int(_UNIT_DAYS[frequency.unit])
    if days_high % period == 0:
        return (max(1, math.ceil(days_low / period)), days_high // period), None
    return None, days_high


def _range_text(low: float, high: float) -> str:
    return f"{low:g}–{high:g}" if low != high else f"{high:g}"


def parse_prescription(
    text: str | None = None,
    *,
    product: Product | str | None = None,
    strength: str | None = None,
    dose: str | None = None,
    syringe: str | None = None,
    route: Route | str | None = None,
    frequency: str | None = None,
) -> Prescription:
    """Read a prescription from the label's line and/or structured fields (see the module docstring).

    Structured fields fill what the line leaves out; where both say something and they disagree, that is a
    question.
    """
    questions: list[Question] = []
    raw = (text or "").strip()
    line = _normalise(raw)
    if re.search(r"\d,\d", line):
        questions.append(Question("text", _COMMA_QUESTION))
        return _empty(raw, questions)
    body = _Text(line)

    # Whole-text facts: the medicine, the strength, the syringe.
    product_value = _product(body, product, questions)
    strength_value, strength_text = _strength(body, strength, questions)
    syringe_value = _syringe(body, syringe, questions)
    route_field = _route_field(route, questions)

    pieces = [
        piece.strip(" ,.:")
        for piece in re.split(r"(?:;\s*)?\b(?:then|followed by|after that|thereafter|afterwards)\b|;", body.text)
    ]
    while len(pieces) > 1 and not pieces[0]:
        pieces = pieces[1:]
    segments = [_segment(i, piece) for i, piece in enumerate(pieces)]
    if frequency and segments[0].frequency is None:
        extra = _Text(_normalise(frequency))
        segments[0].frequency = _frequency(extra, "frequency", questions)
        if segments[0].frequency is None and not questions:
            questions.append(Question("frequency", f"b12 did not understand the frequency {frequency!r}."))
    if dose and segments[0].dose is None:
        segments[0].dose = _typed_dose(dose, "dose", questions)
        if segments[0].dose is None and not any(q.field == "dose" for q in questions):
            questions.append(
                Question("dose", f"b12 did not understand the dose {dose!r}: write it as 1 mL, 1 mg or 1000 mcg.")
            )
    elif dose and segments[0].dose is not None:
        typed = _typed_dose(dose, "dose", questions)
        if (
            typed is not None
            and typed != segments[0].dose
            and _dose_mg_quiet(typed, strength_value, syringe_value)
            != (_dose_mg_quiet(segments[0].dose, strength_value, syringe_value))
        ):
            questions.append(
                Question(
                    "dose", f"The label line says {segments[0].dose.written} and the dose field says {dose}: which?"
                )
            )

    phases: list[Phase] = []
    parts: list[str] = []
    lifelong = False
    subcutaneous = False
    previous: _Segment | None = None
    previous_route: Route | None = None
    previous_mg: float | None = None
    previous_what: str | None = None
    for position, segment in enumerate(segments):
        last = position == len(segments) - 1
        questions.extend(segment.questions)
        if segment.leftovers:
            questions.append(
                Question(
                    f"phases[{segment.index}]" if len(segments) > 1 else "text",
                    f"b12 did not understand {' '.join(segment.leftovers)!r}: rewrite it, or use the fields.",
                )
            )
        # Route: this part's, else the part before it, else the route field.
        seg_route = segment.route or previous_route or route_field
        if segment.route is not None and route_field is not None and position == 0 and segment.route is not route_field:
            questions.append(Question("route", "The label line and the route field name different routes: which?"))
        if seg_route is None and not any(q.field == f"phases[{segment.index}].route" for q in questions):
            questions.append(
                Question(
                    "route" if position == 0 else f"phases[{segment.index}].route",
                    "Injected into a muscle (IM) or under the skin (SC)?"
                    if segment.injected
                    else "How is it taken: injected into a muscle (IM), under the skin (SC), by mouth, or as a nasal "
                    "spray?",
                )
            )
        sub = segment.subcutaneous or (previous is not None and previous.subcutaneous and segment.route is None)
        subcutaneous = subcutaneous or sub
        # Dose: this part's, else the part before it.
        mg: float | None = None
        if segment.dose is not None:
            mg = _resolve_mg(segment.dose, strength_value, syringe_value, f"phases[{segment.index}].dose", questions)
        elif previous_mg is not None:
            mg = previous_mg
        elif position == 0 and not any(q.field in ("dose", "phases[0].dose") for q in questions):
            questions.append(Question("dose", "How much is each dose (for example 1 mL, 1 mg or 1000 mcg)?"))
        # Frequency.
        freq = segment.frequency
        if freq is None and not any(q.field.startswith(f"phases[{segment.index}].frequency") for q in questions):
            questions.append(
                Question(
                    "frequency" if position == 0 else f"phases[{segment.index}].frequency",
                    "How often is each dose taken or given (for example once a week, or every 3 months)?"
                    if position == 0
                    else f"How often after {previous_what}?",
                )
            )
        what = _frequency_words(freq) if freq else "this"
        ending = (
            _ending(segment, freq, last, questions, what)
            if freq is not None
            else (Ending.CONTINUING, None, None, None, None, False, None)
        )
        kind_of_end, doses, doses_range, duration_days, until, is_lifelong, duration_words = ending
        lifelong = lifelong or is_lifelong
        previous_what = _after_words(kind_of_end, doses, duration_words, until, freq, seg_route)
        if freq is not None and mg is not None and seg_route is not None and product_value is not None:
            try:
                phase = Phase(
                    name="",
                    kind=PhaseKind.MAINTENANCE if last and kind_of_end is Ending.CONTINUING else PhaseKind.LOADING,
                    product=product_value,
                    route=seg_route,
                    dose_mg=mg,
                    dose_range_mg=Span(mg, mg),
                    frequency=freq,
                    ending=kind_of_end,
                    rule=RULE,
                    sources=(),
                    text="",
                    doses=doses,
                    doses_range=doses_range,
                    duration_days=duration_days,
                    until=until,
                )
            except ValueError as error:
                questions.append(Question(f"phases[{segment.index}]", str(error)))
            else:
                words = _phase_words(
                    phase,
                    sub,
                    strength_value,
                    strength_text,
                    syringe_value,
                    duration_words,
                    same_dose=mg == previous_mg and position > 0,
                    same_route=seg_route is previous_route and position > 0,
                )
                phases.append(replace(phase, text=words))
                parts.append(words)
        previous, previous_route, previous_mg = segment, seg_route, mg
    if product_value is None and not any(q.field == "product" for q in questions):
        questions.append(Question("product", "Which medicine is it: hydroxocobalamin or cyanocobalamin?"))
    named = _named(phases)
    questions = list(dict.fromkeys(questions))
    return Prescription(
        text=raw or None,
        product=product_value,
        strength=strength_value,
        strength_text=strength_text,
        syringe=syringe_value,
        route=phases[0].route if phases else route_field,
        subcutaneous=subcutaneous,
        phases=named if not questions else (),
        lifelong=lifelong,
        questions=tuple(questions),
        parts=tuple(parts),
    )


def _empty(raw: str, questions: list[Question]) -> Prescription:
    return Prescription(raw or None, None, None, None, None, None, False, (), False, tuple(questions))


def _dose_mg_quiet(dose: _Dose, strength: Strength | None, syringe: Syringe | None) -> float | None:
    return _resolve_mg(dose, strength, syringe, "dose", [])


def _product(body: _Text, given: Product | str | None, questions: list[Question]) -> Product | None:
    found: set[Product] = set()
    if body.take_all(_HYDROXO):
        found.add(Product.HYDROXOCOBALAMIN)
    if body.take_all(_CYANO):
        found.add(Product.CYANOCOBALAMIN)
    if m := body.take(_OTHER_COBALAMIN):
        questions.append(
            Question(
                "product",
                f"b12 tracks hydroxocobalamin and cyanocobalamin; {m[0]} is not a licensed B12 injection in the "
                "sources b12 holds. Which medicine is on the label?",
            )
        )
        return None
    if given is not None:
        try:
            typed = Product(str(given).strip().lower())
        except ValueError:
            questions.append(Question("product", f"{given!r} is not hydroxocobalamin or cyanocobalamin."))
            return None
        if found and found != {typed}:
            questions.append(
                Question("product", "The label line and the product field name different medicines: which?")
            )
            return None
        return typed
    if len(found) > 1:
        questions.append(
            Question("product", "The label line names both hydroxocobalamin and cyanocobalamin: which is it?")
        )
        return None
    return next(iter(found), None)


def _strength(body: _Text, given: str | None, questions: list[Question]) -> tuple[Strength | None, str | None]:
    written: list[tuple[Strength, str]] = []
    for m in body.take_all(_STRENGTH):
        text = f"{m['mass']} {m['mu']}/{m['vol'] or '1'} mL"
        try:
            written.append((parse_strength(text), _strength_words(m["mass"], m["mu"], m["vol"])))
        except UnitError as error:
            questions.append(Question("strength", str(error)))
    typed: tuple[Strength, str] | None = None
    if given is not None and given.strip():
        try:
            value = parse_strength(given)
        except UnitError as error:
            questions.append(Question("strength", str(error)))
            return None, None
        typed = (
            value,
            _strength_words(
                format_number(value.mass.value),
                value.mass.unit.symbol,
                None if value.volume.value == 1 else format_number(value.volume.value),
            ),
        )
        written.append(typed)
    distinct = {round(s.mg_per_ml, 9) for s, _ in written}
    if len(distinct) > 1:
        listed = " and ".join(dict.fromkeys(words for _, words in written))
        questions.append(
            Question("strength", f"The prescription gives two strengths ({listed}): which is on the label?")
        )
        return None, None
    if not written:
        return None, None
    return written[0]


def _strength_words(mass: str, unit: str, volume: str | None) -> str:
    symbol = {"µg": "mcg", "ug": "mcg", "microgram": "mcg", "micrograms": "mcg", "milligram": "mg", "milligrams": "mg"}
    unit = symbol.get(unit, "mcg" if unit.startswith(("mcg", "microg")) else "mg" if unit.startswith("m") else unit)
    return f"{mass} {unit}/{volume + ' mL' if volume and float(volume) != 1 else 'mL'}"


def _syringe(body: _Text, given: str | None, questions: list[Question]) -> Syringe | None:
    names = {m["name"].replace("-", "") for m in body.take_all(_SYRINGE)}
    if given:
        names.add(given.strip().lower().replace("-", ""))
    if len(names) > 1:
        questions.append(Question("syringe", "Two syringes are named: which is used (U-100 or U-40)?"))
        return None
    if not names:
        return None
    try:
        return parse_syringe(names.pop())
    except UnitError as error:
        questions.append(Question("syringe", str(error)))
        return None


def _route_field(route: Route | str | None, questions: list[Question]) -> Route | None:
    if route is None or (isinstance(route, str) and not route.strip()):
        return None
    try:
        return Route(str(route).strip().lower())
    except ValueError:
        questions.append(Question("route", f"{route!r} is not a route b12 knows (im, oral or nasal)."))
        return None


def _named(phases: Sequence[Phase]) -> tuple[Phase, ...]:
    loading = [p for p in phases if p.kind is PhaseKind.LOADING]
    named: list[Phase] = []
    n = 0
    for phase in phases:
        if phase.kind is PhaseKind.MAINTENANCE:
            named.append(replace(phase, name="maintenance"))
        else:
            n += 1
            named.append(replace(phase, name="loading" if len(loading) == 1 else f"loading {n}"))
    return tuple(named)


# --- plain words ----------------------------------------------------------------------------------------


def _mass_words(mg: float) -> str:
    """``1 mg``; below 1 mg in micrograms (``100 micrograms``), as UK labels write it."""
    if mg >= 1:
        return f"{format_number(mg)} mg"
    micrograms = format_number(mg * 1000)
    return f"{micrograms} microgram{'' if micrograms == '1' else 's'}"


def _frequency_words(frequency: Frequency) -> str:
    if frequency.times_per_week:
        return {1: "once a week", 2: "twice a week"}.get(
            frequency.times_per_week, f"{frequency.times_per_week} times a week"
        )
    span = str(frequency.every_range) if frequency.every_range else str(frequency.every)
    plain = {
        ("1", IntervalUnit.DAY): "once a day",
        ("2", IntervalUnit.DAY): "every other day",
        ("1", IntervalUnit.WEEK): "once a week",
        ("1", IntervalUnit.MONTH): "once a month",
    }
    return plain.get((span, frequency.unit), f"every {span} {frequency.unit.value}s")


def _route_words(route: Route, subcutaneous: bool) -> str:
    if route is Route.IM:
        return "by injection under the skin" if subcutaneous else "by injection into a muscle"
    return {Route.ORAL: "by mouth", Route.NASAL: "as a nasal spray"}[route]


def _items(route: Route, n: float) -> str:
    word = "injection" if route is Route.IM else "dose"
    return word if n == 1 else word + "s"


def _after_words(
    ending: Ending,
    doses: int | None,
    duration: str | None,
    until: str | None,
    freq: Frequency | None,
    route: Route | None,
) -> str:
    """How the part before a 'then' is named in a question: 'the first 4 weeks'."""
    if duration:
        return f"the first {duration}"
    if doses is not None and route is not None:
        return f"the first {doses} {_items(route, doses)}"
    if until:
        return f"'{until}'"
    return f"the {_frequency_words(freq)} doses" if freq else "that"


def _phase_words(
    phase: Phase,
    subcutaneous: bool,
    strength: Strength | None,
    strength_text: str | None,
    syringe: Syringe | None,
    duration_words: str | None,
    *,
    same_dose: bool,
    same_route: bool,
) -> str:
    words: list[str] = []
    if not same_dose:
        dose = _mass_words(phase.dose_mg)
        if phase.injected and strength is not None:
            try:
                volume = dose_volume(quantity(phase.dose_mg, "mg"), strength, syringe)
            except UnitError:
                volume = None
            if volume is not None:
                inner = f"{format_number(round(volume.volume_ml, 4), 15)} mL of {strength_text or strength}"
                if volume.syringe is not None and volume.syringe_units is not None:
                    units = format_number(round(volume.syringe_units, 2), 15)
                    inner += f" = {units} units on a {volume.syringe.name} syringe"
                dose += f" ({inner})"
        words.append(dose)
    if not same_route:
        words.append(_route_words(phase.route, subcutaneous))
    words.append(_frequency_words(phase.frequency))
    items = _items(phase.route, phase.doses or 0)
    if phase.ending is Ending.COUNT and phase.doses is not None:
        count = (
            f"{_range_text(phase.doses_range.low, phase.doses_range.high)} {items}; reminders for {phase.doses}"
            if phase.doses_range
            else f"{phase.doses} {items}"
        )
        words.append(f"for {duration_words} ({count})" if duration_words else f"for {count}")
    elif phase.ending is Ending.DURATION:
        words.append(f"for {duration_words or f'{phase.duration_days} days'}")
    elif phase.ending is Ending.CLINICAL:
        until = phase.until or "no further improvement"
        words.append(
            f"{until if until.startswith(('as long', 'while')) else 'until ' + until} (your clinician decides when)"
        )
    elif phase.until:
        words.append(phase.until)
    if phase.frequency.every_range is not None:
        words.append(
            f"(reminders every {phase.frequency.every} {phase.frequency.unit.value}s, the longer interval; "
            "ask your clinician which they meant)"
        )
    return " ".join(words)


# --- reading a single dose (for recording a dose given) -------------------------------------------------


def read_dose(text: str, strength: Strength | None, syringe: Syringe | None) -> float:
    """A dose typed as ``1 mg``, ``1000 mcg``, ``1 mL`` (needs the strength) or ``100 units`` (needs both),
    in mg; a :class:`CaseError` on field ``dose`` otherwise."""
    questions: list[Question] = []
    dose = _typed_dose(text, "dose", questions)
    if dose is None and not questions:
        questions.append(
            Question("dose", f"b12 did not understand the dose {text!r}: write it as 1 mL, 1 mg or 1000 mcg.")
        )
    mg = _resolve_mg(dose, strength, syringe, "dose", questions) if dose is not None else None
    if mg is None or questions:
        raise CaseError("dose", questions[0].text if questions else f"b12 did not understand the dose {text!r}.")
    return mg


# --- comparing with a guideline -------------------------------------------------------------------------


def _rule(rule_id: str, guideline: Guideline) -> tuple[str, tuple[str, ...]]:
    try:
        rule = find_rule(rule_id, guideline.id)
    except UnknownGuidelineError:
        return "", ()
    return rule.message, rule.sources


def _candidates(guideline: Guideline, regimen_id: str | None, conditions: Collection[Condition]) -> list[Regimen]:
    if regimen_id is not None and regimen_id in guideline.regimens:
        return [guideline.regimens[regimen_id]]
    specific = [r for r in guideline.regimens.values() if CONDITION_REGIMENS.get(r.id, frozenset()) & set(conditions)]
    if specific:
        return specific
    return [r for r in guideline.regimens.values() if r.id not in CONDITION_REGIMENS]


def _fits(frequency: Frequency, label: Frequency) -> bool:
    days = frequency.approx_days
    if label.times_per_week:
        low = high = 7 / label.times_per_week
    else:
        span = label.every_range or Span(label.every, label.every)
        low, high = span.low * _UNIT_DAYS[label.unit], span.high * _UNIT_DAYS[label.unit]
    return low * (1 - INTERVAL_SLACK) <= days <= high * (1 + INTERVAL_SLACK)


def _label_frequency(phase: Phase) -> str:
    frequency = phase.frequency
    return _frequency_words(frequency)


def _part(phases: Sequence[Phase], index: int) -> str:
    """How a phase is named in a message: 'maintenance', 'loading', 'loading (part 2)'."""
    phase = phases[index]
    if phase.kind is PhaseKind.MAINTENANCE:
        return "maintenance"
    loading = [i for i, p in enumerate(phases) if p.kind is PhaseKind.LOADING]
    return "loading" if len(loading) == 1 else f"loading (part {loading.index(index) + 1})"


def check_against_guideline(
    phases: Sequence[Phase],
    guideline: Guideline,
    *,
    regimen_id: str | None = None,
    conditions: Collection[Condition] = (),
    strength: Strength | None = None,
    syringe: Syringe | None = None,
    subcutaneous: bool = False,
) -> tuple[Alert, ...]:
    """Differences between a course's phases and the guideline's regimens, as alerts citing the regimen.

    Compared with ``regimen_id`` when given, else with every regimen of the guideline for the same product
    and route (those tied to a condition, such as Leber's, only when ``conditions`` has it). A maintenance
    interval or a dose outside the label's range is a warning; a loading pattern that differs is a note.
    """
    alerts: list[Alert] = []
    products = {p.product for p in phases}
    if Product.CYANOCOBALAMIN in products and set(conditions) & {Condition.LEBER, Condition.TOBACCO_AMBLYOPIA}:
        message, sources = _rule("SAFE-LEBER", guideline)
        alerts.append(Alert("SAFE-LEBER", Severity.CRITICAL, f"This course is cyanocobalamin. {message}", sources))
    if Condition.COBALT_ALLERGY in conditions:
        message, sources = _rule("SAFE-COBALT", guideline)
        alerts.append(Alert("SAFE-COBALT", Severity.CRITICAL, message, sources))
    if subcutaneous and any(p.product is Product.HYDROXOCOBALAMIN and p.injected for p in phases):
        _message, sources = _rule("SAFE-IV", guideline)
        alerts.append(
            Alert(
                "SAFE-IV",
                Severity.WARNING,
                "Hydroxocobalamin under the skin: the labels in b12's sources give hydroxocobalamin by intramuscular "
                "injection (the US label says IM only). Check the route with the prescriber.",
                sources,
            )
        )
    candidates = _candidates(guideline, regimen_id, conditions)
    unmatched: set[tuple[Product, Route]] = set()
    for index, phase in enumerate(phases):
        same = [(r, q) for r in candidates for q in r.phases if q.product is phase.product and q.route is phase.route]
        if not same:
            unmatched.add((phase.product, phase.route))
            continue
        alike = [(r, q) for r, q in same if q.kind is phase.kind] or same
        part = _part(phases, index)
        if not any(phase.dose_mg in q.dose_range_mg for _, q in alike):
            labels = _listing((f"{_span_mg(q.dose_range_mg)}", r.id) for r, q in alike)
            alerts.append(
                Alert(
                    alike[0][1].rule,
                    Severity.WARNING,
                    f"The {part} dose, {_mass_words(phase.dose_mg)}, is outside the label's dose: {labels}. "
                    "Check the dose with the prescriber.",
                    _sources(q for _, q in alike),
                )
            )
        if not any(_fits(phase.frequency, q.frequency) for _, q in alike):
            labels = _listing((_label_frequency(q), r.id) for r, q in alike)
            maintenance = phase.kind is PhaseKind.MAINTENANCE
            alerts.append(
                Alert(
                    alike[0][1].rule,
                    Severity.WARNING if maintenance else Severity.INFO,
                    f"The {part} interval, {_frequency_words(phase.frequency)}, is outside the label's range: {labels}."
                    + (
                        " A clinician should review and confirm this interval."
                        if maintenance
                        else " Loading schedules differ between labels: check it with the prescriber."
                    ),
                    _sources(q for _, q in alike),
                )
            )
    if regimen_id is None and phases and not any(p.kind is PhaseKind.LOADING for p in phases):
        product, route = phases[0].product, phases[0].route
        loaded = [r for r in candidates if r.phases[0].product is product and r.phases[0].route is route]
        if loaded and all(r.phases[0].kind is PhaseKind.LOADING for r in loaded):
            alerts.append(
                Alert(
                    loaded[0].id,
                    Severity.INFO,
                    "The label regimens start with loading doses ("
                    + "; ".join(f"{r.phases[0].text} ({r.id})" for r in loaded)
                    + "), and this course has none: that is expected if loading is already done.",
                    _sources(r.phases[0] for r in loaded),
                )
            )
    everywhere = {(q.product, q.route) for r in guideline.regimens.values() for q in r.phases}
    for product, route in sorted(unmatched, key=lambda pr: (pr[0].value, pr[1].value)):
        if (product, route) in everywhere:
            continue  # the comparison was narrowed on purpose (a named regimen, or a condition's regimen)
        alerts.append(
            Alert(
                "RX-NO-REGIMEN",
                Severity.WARNING,
                f"{guideline.title} has no regimen for {product.value} {_route_words(route, False)}: b12 cannot check "
                "this part against the guideline.",
            )
        )
    alerts.extend(_volume_checks(phases, guideline, strength, syringe))
    return tuple(dict.fromkeys(alerts))


def _volume_checks(
    phases: Sequence[Phase], guideline: Guideline, strength: Strength | None, syringe: Syringe | None
) -> list[Alert]:
    alerts: list[Alert] = []
    injected = [p for p in phases if p.injected]
    if strength is None or not injected:
        return alerts
    usual_text = guideline.strengths.get(injected[0].product)
    if usual_text is not None:
        try:
            usual = parse_strength(usual_text)
        except UnitError:
            usual = None
        if usual is not None and not math.isclose(usual.mg_per_ml, strength.mg_per_ml):
            alerts.append(
                Alert(
                    "RX-STRENGTH",
                    Severity.INFO,
                    f"The strength {strength} differs from the usual {usual_text} in {guideline.title}: the volume "
                    "to draw is worked out from this course's own strength.",
                )
            )
    message, sources = _rule("DOSE-VOLUME", guideline)
    for mg in dict.fromkeys(p.dose_mg for p in injected):
        try:
            volume = dose_volume(quantity(mg, "mg"), strength, syringe)
        except UnitError as error:
            alerts.append(Alert("DOSE-VOLUME", Severity.WARNING, f"{message} {error}", sources))
            continue
        alerts.extend(Alert("DOSE-VOLUME", Severity.WARNING, f"{message} {w}", sources) for w in volume.warnings)
    return alerts


def _span_mg(span: Span) -> str:
    if span.low == span.high:
        return _mass_words(span.low)
    return f"{_mass_words(span.low)} to {_mass_words(span.high)}"


def _listing(pairs: Iterable[tuple[str, str]]) -> str:
    grouped: dict[str, list[str]] = {}
    for text, rule in pairs:
        grouped.setdefault(text, [])
        if rule not in grouped[text]:
            grouped[text].append(rule)
    return " or ".join(f"{text} ({', '.join(rules)})" for text, rules in grouped.items())


def _sources(phases: Iterable[Phase]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(s for p in phases for s in p.sources))


def matching_regimen(phases: Sequence[Phase], guideline: Guideline) -> str | None:
    """The guideline regimen these phases follow exactly (within the label's ranges), if any."""
    for regimen in guideline.regimens.values():
        if len(regimen.phases) != len(phases):
            continue
        if all(_same(p, q) for p, q in zip(phases, regimen.phases, strict=True)):
            return regimen.id
    return None


def _planned_doses(phase: Phase) -> int | None:
    """How many doses a phase with an end gives: its count, or the doses that fit in its duration."""
    if phase.ending is Ending.COUNT:
        return phase.doses
    frequency = phase.frequency
    if phase.ending is not Ending.DURATION or not phase.duration_days or frequency.times_per_week:
        return None
    if frequency.unit is IntervalUnit.MONTH:
        return None
    return math.ceil(phase.duration_days / (frequency.every * int(_UNIT_DAYS[frequency.unit])))


def _same(phase: Phase, label: Phase) -> bool:
    if (phase.product, phase.route) != (label.product, label.route):
        return False
    bounded = {Ending.COUNT, Ending.DURATION}
    if phase.ending is not label.ending and not {phase.ending, label.ending} <= bounded:
        return False
    if phase.dose_mg not in label.dose_range_mg:
        return False
    f, g = phase.frequency, label.frequency
    if f.times_per_week or g.times_per_week:
        if f.times_per_week != g.times_per_week:
            return False
    elif f.unit is not g.unit or f.every not in (g.every_range or Span(g.every, g.every)):
        return False
    if phase.ending is Ending.DURATION and label.ending is Ending.DURATION:
        return phase.duration_days == label.duration_days
    if phase.ending in bounded:
        # "daily for 7 days" (7 doses) follows "daily for 1 week" (a 7-day duration).
        mine, theirs = _planned_doses(phase), _planned_doses(label)
        if mine is None or theirs is None:
            return False
        return mine in (label.doses_range or Span(theirs, theirs))
    return True
