"""`imitlm sweep`: hyperparameter search with Optuna; `space` parses the search space, `run` trains and scores."""

from imitlm.sweep.run import METRICS, Metric, run_sweep
from imitlm.sweep.space import ParamSpec, check_space, load_space, parse_space

__all__ = ["METRICS", "Metric", "ParamSpec", "check_space", "load_space", "parse_space", "run_sweep"]
