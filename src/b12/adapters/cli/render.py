"""Plain-text answers shared by the quick path and the Typer app (no Rich: it is slow to import)."""

from __future__ import annotations

from b12.domain.units import DoseVolume, Quantity, molar_basis


def conversion(source_value: float, source_unit: str, result: Quantity, analyte: str | None) -> str:
    line = f"{source_value:g} {source_unit} = {result}"
    basis = molar_basis(analyte) if analyte else None
    if basis is not None and source_unit.strip() != str(result.unit.symbol):
        line += f"  ({analyte}, {basis})"
    return line


def dose(result: DoseVolume) -> list[str]:
    lines = [f"{result.dose} from {result.strength} = draw {result.volume_text} mL"]
    if result.syringe is not None and result.syringe_units_text is not None:
        lines[0] += f" = {result.syringe_units_text} units on a {result.syringe.name} syringe"
        lines.append(
            f"({result.syringe.name}: {result.syringe.units_per_ml} units = 1 mL; syringe units are volume marks, "
            "not international units)"
        )
    lines.extend(f"warning: {w}" for w in result.warnings)
    return lines
