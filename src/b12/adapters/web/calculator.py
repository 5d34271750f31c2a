"""The home page's question, "How many mg is my injection?": a dose or a volume, a strength, a syringe.

The amount may be a weight ("1 mg", "1000 mcg": how much to draw) or a volume ("1 mL": how much it holds).
Units come from the closed vocabulary; "IU" and bare "units" are refused with the domain's explanation
beside the field. While the user is still typing (``live``), an empty field is not yet an error.
"""

from __future__ import annotations

from dataclasses import dataclass

from b12.adapters.web.forms import FormState
from b12.domain.errors import UnitError
from b12.domain.guidelines import GUIDELINE_IDS, find_rule, load_guideline
from b12.domain.units import (
    Dimension,
    Quantity,
    Strength,
    Syringe,
    dose_from_syringe_units,
    dose_volume,
    format_number,
    parse_quantity,
    parse_strength,
    parse_syringe,
)

FIELDS = ("dose", "strength", "syringe")
NO_SYRINGE = "none"


@dataclass(frozen=True, slots=True)
class DoseAnswer:
    from_volume: bool  # the amount typed was a volume
    dose_mg: str
    dose_mcg: str
    volume_ml: str
    strength: str
    syringe: Syringe | None
    syringe_units: str | None
    warnings: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class SyringeNote:
    rule: str
    message: str
    sources: tuple[str, ...]


def syringe_note() -> SyringeNote:
    rule = find_rule("DOSE-VOLUME", "uk")
    return SyringeNote(rule.id, rule.message, rule.sources)


def label_strengths() -> list[str]:
    """Strengths named in the guideline data, offered as suggestions."""
    return list(dict.fromkeys(s for g in GUIDELINE_IDS for s in load_guideline(g).strengths.values()))


def calculate(form: FormState, *, live: bool = False) -> DoseAnswer | None:
    """The answer, or None with each problem recorded beside its field."""
    strength: Strength | None = None
    amount: Quantity | None = None
    syringe: Syringe | None = None
    strength_text, amount_text = form.text("strength"), form.text("dose")
    if strength_text:
        try:
            strength = parse_strength(strength_text)
        except UnitError as error:
            form.add_error("strength", str(error))
    elif not live:
        form.add_error("strength", "Enter the strength on the label, for example 1000 mcg/mL")
    if amount_text:
        try:
            amount = parse_quantity(amount_text)
        except UnitError as error:
            form.add_error("dose", str(error))
        else:
            if amount.unit.dimension not in (Dimension.MASS, Dimension.VOLUME):
                form.add_error(
                    "dose",
                    f"{amount} is not a dose: enter a weight such as 1 mg or 1000 mcg, or the volume you draw, "
                    "such as 1 mL",
                )
                amount = None
    elif not live:
        form.add_error("dose", "Enter the dose, for example 1 mg or 1000 mcg")
    syringe_text = form.text("syringe") or "U-100"
    if syringe_text != NO_SYRINGE:
        try:
            syringe = parse_syringe(syringe_text)
        except UnitError as error:
            form.add_error("syringe", str(error))
    if strength is None or amount is None or form.errors:
        return None
    try:
        if amount.unit.dimension is Dimension.MASS:
            result = dose_volume(amount, strength, syringe)
        else:
            scale = syringe or parse_syringe("U-100")
            units = amount.to("mL").value * scale.units_per_ml
            result = dose_from_syringe_units(units, strength, scale)
    except UnitError as error:
        form.add_error("dose", str(error))
        return None
    dose = result.dose
    show_units = syringe is not None and result.syringe_units is not None
    return DoseAnswer(
        from_volume=amount.unit.dimension is Dimension.VOLUME,
        dose_mg=str(dose.to("mg")),
        dose_mcg=f"{format_number(dose.to('µg').value)} micrograms",
        volume_ml=result.volume_text,
        strength=str(strength),
        syringe=syringe,
        syringe_units=result.syringe_units_text if show_units else None,
        warnings=result.warnings if syringe is not None else (),
    )
