"""Test-wide settings: Hypothesis without per-example deadlines (wall time is for benchmarks, not tests)."""

from hypothesis import settings

settings.register_profile("b12", deadline=None, print_blob=True)
settings.load_profile("b12")
