"""The plain-language answers to the seeds' three questions, assembled from the guideline data.

The wording that frames each answer is written here; every clinical figure (doses, strengths, days,
intervals) and every sentence that carries one comes from the TOML data through the domain, with its rule ID
and sources, so the page changes when the data does. A rule or regimen missing from the data fails loudly
(the tests render this page).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from b12.domain.errors import InternationalUnitError
from b12.domain.guidelines import GUIDELINE_IDS, find_regimen, find_rule, load_common, load_guideline
from b12.domain.regimen import Regimen
from b12.domain.units import convert, dose_volume, format_number, parse_syringe, quantity

_SOURCE_ID = re.compile(r"\bS\d+[a-z]?\b")


@dataclass(frozen=True, slots=True)
class Line:
    text: str
    sources: tuple[str, ...] = ()
    rule: str | None = None


@dataclass(frozen=True, slots=True)
class Part:
    heading: str | None
    lines: tuple[Line, ...]


@dataclass(frozen=True, slots=True)
class Answer:
    id: str
    question: str
    summary: str
    parts: tuple[Part, ...] = field(default_factory=tuple)


def _rule_line(rule_id: str, guideline: str, prefix: str = "") -> Line:
    rule = find_rule(rule_id, guideline)
    return Line(f"{prefix}{rule.message}", rule.sources, rule.id)


def _regimen_line(regimen_id: str, guideline: str, prefix: str = "") -> Line:
    _, regimen = find_regimen(regimen_id, guideline)
    return Line(f"{prefix}{regimen.title}: {_phases(regimen)}.", _regimen_sources(regimen), regimen.id)


def _phases(regimen: Regimen) -> str:
    return ", ".join(phase.text for phase in regimen.phases)


def _regimen_sources(regimen: Regimen) -> tuple[str, ...]:
    return tuple(dict.fromkeys([*regimen.sources, *(s for p in regimen.phases for s in p.sources)]))


def _mg(dose_mg: float) -> str:
    micrograms = convert(dose_mg, "mg", "µg")
    return f"{format_number(dose_mg)} mg (= {format_number(micrograms.value)} micrograms)"


def how_many_mg() -> Answer:
    syringe = parse_syringe("U-100")
    one_mg = convert(1000, "µg", "mg")
    parts = [
        Part(
            None,
            (
                Line(
                    f"Vitamin B12 doses are a weight: micrograms (mcg or µg) or milligrams (mg). "
                    f"1000 micrograms = {one_mg}. The label gives the strength: the weight in each mL of liquid."
                ),
            ),
        )
    ]
    for guideline_id in GUIDELINE_IDS:
        guideline = load_guideline(guideline_id)
        lines: list[Line] = []
        seen: set[tuple[str, float]] = set()
        for regimen in guideline.regimens.values():
            for phase in regimen.phases:
                key = (phase.product.value, phase.dose_mg)
                if not phase.injected or key in seen:
                    continue
                seen.add(key)
                strength = guideline.strengths[phase.product]
                volume = dose_volume(quantity(phase.dose_mg, "mg"), strength, syringe)
                units = format_number(round(volume.syringe_units or 0.0, 2), 15)
                lines.append(
                    Line(
                        f"{phase.product.value.capitalize()} {strength}: a dose of {_mg(phase.dose_mg)} "
                        f"is {format_number(round(volume.volume_ml, 4), 15)} mL = {units} units on a "
                        f"{syringe.name} syringe ({phase.text}).",
                        _regimen_sources(regimen),
                        regimen.id,
                    )
                )
        parts.append(Part(f"{guideline.title} (data version {guideline.version})", tuple(lines)))
    iu = str(InternationalUnitError("IU"))
    parts.append(
        Part(
            "International units (IU) and syringe units",
            (
                Line(iu, tuple(dict.fromkeys(_SOURCE_ID.findall(iu)))),
                _rule_line("DOSE-VOLUME", "uk"),
            ),
        )
    )
    strengths = dict.fromkeys(s for g in GUIDELINE_IDS for s in load_guideline(g).strengths.values())
    return Answer(
        "how-many-mg",
        "How many mg is in my injection?",
        f"Read the strength on the label (such as {' or '.join(strengths)}): that is the weight in each mL "
        "you inject. The calculator on the home page works it out for your own label and syringe.",
        tuple(parts),
    )


def how_long() -> Answer:
    progress = load_common().progress
    dated = sorted((k for k, v in progress.items() if "day" in v), key=lambda k: int(progress[k]["day"]))
    checkpoints = tuple(
        Line(f"Day {progress[k]['day']}: {progress[k]['text']}", tuple(progress[k]["sources"]), "FU-PROGRESS")
        for k in dated
    )
    uk = load_guideline("uk")
    followup = uk.settings["followup"]
    review = find_rule(str(followup["rule"]), "uk")
    return Answer(
        "how-long",
        "How long until it works?",
        "Blood results usually change within days to weeks; nerve symptoms take longer and may not recover "
        "completely. Your clinician checks progress at set times.",
        (
            Part("Blood", (*checkpoints, _progress_line("no_response"))),
            Part("Nerves, memory and mood", (_progress_line("neuro"),)),
            Part(
                "The review",
                (
                    Line(review.message, review.sources, review.id),
                    Line(str(followup["expect"]), tuple(followup["expect_sources"]), review.id),
                ),
            ),
        ),
    )


def _progress_line(key: str) -> Line:
    entry = load_common().progress[key]
    return Line(str(entry["text"]), tuple(entry["sources"]), "FU-PROGRESS")


def tablets() -> Answer:
    return Answer(
        "tablets",
        "Can I take tablets instead?",
        "Sometimes. It depends on why B12 is low, on whether nerves are affected, and on the guideline your "
        "clinician follows. Do not stop injections without talking to your clinician.",
        (
            Part(
                load_guideline("uk").title,
                (
                    _regimen_line("UK-ORAL-MAL", "uk", "Tablets when absorption is the problem — "),
                    _regimen_line("UK-ORAL-DIET", "uk", "Tablets when diet is the cause — "),
                    _rule_line("UK-ORAL-DIET", "uk"),
                    _rule_line("UK-ORAL-PA", "uk"),
                    _regimen_line("UK-IM-NEURO", "uk", "With nerve symptoms the UK regimen is injections — "),
                    _rule_line("NOTE-ROUTE", "uk"),
                ),
            ),
            Part(
                load_guideline("us-label").title,
                (_rule_line("US-FDA-ORAL-PA", "us-label"), _rule_line("US-FDA-ORAL-CHRONIC", "us-label")),
            ),
            Part(
                load_guideline("us-practice").title,
                (
                    _regimen_line("US-AAFP", "us-practice"),
                    _rule_line("US-AAFP-IM", "us-practice"),
                    _regimen_line("US-AAFP-BARIATRIC", "us-practice"),
                ),
            ),
        ),
    )


def answers() -> tuple[Answer, ...]:
    return how_many_mg(), how_long(), tablets()
