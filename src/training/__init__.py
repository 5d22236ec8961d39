"""Fitting and scoring: the training loop and its callbacks, pretraining, the wide part's fit,
evaluation, run tracking and reports."""
