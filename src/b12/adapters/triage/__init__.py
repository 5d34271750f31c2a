"""Clinic-scale triage: every patient's latest B12 status from a lab extract, on DuckDB or Spark.

The rules are written once as ibis expressions (:mod:`.rules`) from the same guideline data as the
clinical core (threshold sets, ``units.toml``, the guideline's intervals) and run on DuckDB, embedded and
out of core, or on PySpark (:mod:`.engines`, the ``b12[spark]`` extra). :mod:`.synth` makes seeded
synthetic extracts. Nothing here is imported by ``import b12`` or by the other commands; ``pyspark`` is
imported only when the Spark engine is chosen. See ``docs/triage.md``.
"""

from __future__ import annotations

from b12.adapters.triage.pipeline import TriageOptions, TriageResult, run_triage
from b12.adapters.triage.report import Summary

__all__ = ["Summary", "TriageOptions", "TriageResult", "run_triage"]
