"""imitlm: imitation-learning objectives (SequenceMatch, IQLearn) for autoregressive language models."""

__version__ = "0.1.0"
