"""`imitlm demo`: the papers' comparisons at small scale (run), its measurements (metrics) and sizes (settings)."""

from imitlm.demo.run import run_demo

__all__ = ["run_demo"]
