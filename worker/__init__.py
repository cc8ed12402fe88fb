"""The training worker: claim a queued job, train it with ``app.nn``, record results.

Run it with ``python -m worker``; tests use :meth:`worker.runner.Worker.run_once`.
"""
