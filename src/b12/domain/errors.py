"""The one error tree of b12.

Every error b12 raises on purpose derives from :class:`B12Error`, and each subclass also inherits the
builtin it naturally is, so ``except ValueError`` keeps working for callers that do not know b12::

    B12Error
    ├── UnitError (ValueError)
    │   ├── UnknownUnitError            a spelling outside the closed unit vocabulary
    │   ├── InternationalUnitError      "IU" for a vitamin B12 dose (there is no IU for B12)
    │   ├── IncompatibleUnitsError      e.g. mg -> mL, or mass <-> amount without an analyte
    │   └── ImplausibleValueError       negative, zero, NaN, infinite or absurd values
    ├── CaseError (ValueError)          a case that cannot be planned; carries the field path
    ├── GuidelineDataError (ValueError) a guideline / threshold data file that fails validation
    └── UnknownGuidelineError (LookupError)

Adapters translate these at the seam and nowhere else: the CLI prints ``str(error)`` on one line and
exits 2; the web layer answers 422 with a ``detail``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence


class B12Error(Exception):
    """Root of every error b12 raises on purpose."""


class UnitError(B12Error, ValueError):
    """A quantity or unit that b12 refuses to interpret."""


class UnknownUnitError(UnitError):
    def __init__(self, unit: str, accepted: Iterable[str]) -> None:
        self.unit = unit
        self.accepted = tuple(accepted)
        super().__init__(
            f"Unknown unit {unit!r}. b12 only accepts units it lists, so that nothing is guessed: "
            + ", ".join(self.accepted)
        )


class InternationalUnitError(UnitError):
    def __init__(self, unit: str) -> None:
        self.unit = unit
        # "U", "unit", "units" (also before "/mL"): on an insulin syringe these are volume marks.
        self.syringe_marks = "".join(unit.split("/")[0].split()).casefold() in ("u", "unit", "units")
        # REFERENCE §9: B12 doses are by mass; an "IU -> mcg" figure found online is unsupported [S105].
        # REFERENCE §9: a U-100 syringe is "calibrated such that 100 units equals 1 mL" [S106][S107].
        syringe = (
            " On an insulin syringe, units are volume marks, not an amount of B12: on a U-100 syringe 100 units "
            "= 1 mL, so the units to draw depend on the strength (sources S106, S107)."
            if self.syringe_marks
            else ""
        )
        super().__init__(
            f"Vitamin B12 doses are measured by weight (micrograms, mcg or mg), not in international units "
            f"({unit}); there is no IU conversion for B12, so b12 will not turn {unit} into a weight. "
            f"Check the label for the strength in mcg or mg (sources S102, S103, S104).{syringe}"
        )


class IncompatibleUnitsError(UnitError):
    def __init__(self, from_unit: str, to_unit: str, reason: str = "") -> None:
        self.from_unit = from_unit
        self.to_unit = to_unit
        message = f"Cannot convert {from_unit} to {to_unit}"
        super().__init__(f"{message}: {reason}" if reason else message)


class ImplausibleValueError(UnitError):
    def __init__(self, value: float, unit: str, reason: str) -> None:
        self.value = value
        self.unit = unit
        super().__init__(f"{value:g} {unit} is not accepted: {reason}")


class CaseError(B12Error, ValueError):
    """A case (patient, labs, choices) that cannot be read; ``field`` names where, e.g. ``labs[0].unit``."""

    def __init__(self, field: str, problem: str) -> None:
        self.field = field
        self.problem = problem
        super().__init__(f"{field}: {problem}" if field else problem)


class GuidelineDataError(B12Error, ValueError):
    """A guideline or threshold data file that fails validation; names the file and the rule."""

    def __init__(self, file: str, problems: Sequence[str]) -> None:
        self.file = file
        self.problems = tuple(problems)
        super().__init__(f"{file}: " + "; ".join(self.problems))


class UnknownGuidelineError(B12Error, LookupError):
    def __init__(self, kind: str, name: str, known: Iterable[str]) -> None:
        self.name = name
        self.known = tuple(known)
        super().__init__(f"Unknown {kind} {name!r}; choose one of: {', '.join(self.known)}")
