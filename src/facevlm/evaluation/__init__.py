"""Evaluation: fold metrics, their aggregation and MLflow names, and report figures.

- :mod:`~facevlm.evaluation.metrics` accuracy, macro-F1, per-class recall, confusion; fold
  aggregation; the flat metric names both models log
- :mod:`~facevlm.evaluation.calibration` temperature scaling of the heads' probabilities,
  expected calibration error, reliability bins (numpy only)
- :mod:`~facevlm.evaluation.figures` confusion matrices, training curves, embedding plots and
  ablation tables (matplotlib figures, no pyplot state)
"""
