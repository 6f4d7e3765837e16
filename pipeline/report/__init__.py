"""The per-run HTML report: a page a person reads, plots beside it.

`write_report` (build.py) turns a run's summary (pipeline/summary.py) into
`<home>/reports/<run id>/index.html`: per head its verdict and reasons, its
metrics against thresholds and the served model, plots that fit its task
(plots.py) drawn from this run's model on the eval split (scores.py), its
loss curves; and the model's signatures and the data's row counts.
"""
