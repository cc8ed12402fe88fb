"""Plots of training jobs: loss/accuracy curves, job comparisons, decision boundaries.

`app.plots.grid` needs NumPy only (the decision-boundary grid as numbers);
`app.plots.render` draws with matplotlib (Agg, no pyplot) and is imported lazily by the
routes so that starting the API does not pay for importing matplotlib.
"""
