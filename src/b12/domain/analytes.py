"""Analytes bound to LOINC codes.

LOINC codes are those of REFERENCE §7.7 (from public code repositories; "verify against loinc.org
before release"). Holotranscobalamin (active B12) has no verified LOINC code, and neither do potassium
and reticulocytes in the reference: b12 says so rather than guess one.
"""

from __future__ import annotations

from enum import StrEnum


class Analyte(StrEnum):
    B12_TOTAL = "b12_total"
    B12_ACTIVE = "b12_active"
    MMA = "mma"
    HOMOCYSTEINE = "homocysteine"
    HEMOGLOBIN = "hemoglobin"
    MCV = "mcv"
    FOLATE = "folate"
    POTASSIUM = "potassium"
    RETICULOCYTES = "reticulocytes"


# (mass/volume code, moles/volume code), REFERENCE §7.7. None = not found / not verified.
LOINC: dict[Analyte, tuple[str | None, str | None]] = {
    Analyte.B12_TOTAL: ("2132-9", "14685-2"),
    Analyte.B12_ACTIVE: (None, None),
    Analyte.MMA: (None, "13964-2"),
    Analyte.HOMOCYSTEINE: ("2428-1", "13965-9"),
    Analyte.HEMOGLOBIN: ("718-7", None),
    Analyte.MCV: ("787-2", None),
    Analyte.FOLATE: ("2284-8", "14732-2"),
    Analyte.POTASSIUM: (None, None),
    Analyte.RETICULOCYTES: (None, None),
}
