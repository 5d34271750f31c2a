"""b12 — decision support for vitamin B12 deficiency: units, lab interpretation, guideline regimens and plans.

The public API is imported lazily (PEP 562) so that ``b12 convert`` starts fast::

    >>> import b12
    >>> b12.convert(1000, "mcg", "mg").value
    1.0
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_EXPORTS: dict[str, str] = {
    "B12Error": "b12.domain.errors",
    "Case": "b12.domain.case",
    "Cause": "b12.domain.case",
    "Condition": "b12.domain.case",
    "LabResult": "b12.domain.case",
    "Patient": "b12.domain.case",
    "Preferences": "b12.domain.case",
    "Route": "b12.domain.case",
    "Sex": "b12.domain.case",
    "Symptom": "b12.domain.case",
    "Analyte": "b12.domain.analytes",
    "Status": "b12.domain.labs",
    "convert": "b12.domain.units",
    "dose_volume": "b12.domain.units",
    "parse_strength": "b12.domain.units",
    "case_from_json": "b12.adapters.case_json",
    "compare_regimens": "b12.services",
    "interpret_case": "b12.services",
    "plan_case": "b12.services",
    "plan_to_dict": "b12.adapters.plan_json",
}

__all__ = [
    "Analyte",
    "B12Error",
    "Case",
    "Cause",
    "Condition",
    "LabResult",
    "Patient",
    "Preferences",
    "Route",
    "Sex",
    "Status",
    "Symptom",
    "__version__",
    "case_from_json",
    "compare_regimens",
    "convert",
    "dose_volume",
    "interpret_case",
    "parse_strength",
    "plan_case",
    "plan_to_dict",
]

if TYPE_CHECKING:
    from b12.adapters.case_json import case_from_json
    from b12.adapters.plan_json import plan_to_dict
    from b12.domain.analytes import Analyte
    from b12.domain.case import Case, Cause, Condition, LabResult, Patient, Preferences, Route, Sex, Symptom
    from b12.domain.errors import B12Error
    from b12.domain.labs import Status
    from b12.domain.units import convert, dose_volume, parse_strength
    from b12.services import compare_regimens, interpret_case, plan_case


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'b12' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__
