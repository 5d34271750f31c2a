"""Plain-text answers shared by the quick path and the Typer app (no Rich: it is slow to import)."""

from __future__ import annotations

from b12.domain.units import DoseVolume, Quantity, molar_mass


def conversion(source_value: float, source_unit: str, result: Quantity, analyte: str | None) -> str:
    line = f"{source_value:g} {source_unit} = {result}"
    if analyte and molar_mass(analyte) is not None and source_unit.strip() != str(result.unit.symbol):
        line += f"  ({analyte}, molar mass {molar_mass(analyte):g} g/mol)"
    return line


def dose(result: DoseVolume) -> list[str]:
    lines = [f"{result.dose} from {result.strength} = draw {result.volume_ml:g} mL"]
    if result.syringe is not None and result.syringe_units is not None:
        lines[0] += f" = {result.syringe_units:g} units on a {result.syringe.name} syringe"
        lines.append(
            f"({result.syringe.name}: {result.syringe.units_per_ml} units = 1 mL; syringe units are volume marks, "
            "not international units)"
        )
    lines.extend(f"warning: {w}" for w in result.warnings)
    return lines
