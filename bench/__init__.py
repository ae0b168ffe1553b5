"""Benchmarks for recovery-bot over real signed HTTP: `python -m bench.run` runs them and writes
docs/PERFORMANCE.md (`bench/report.py` renders it); each also runs alone, with `--help`.
Nothing here is imported by the product.

They drive the real `python -m bot serve` (a subprocess, waitress, 8 threads as `serve`'s
default) with Slack-signed HTTP requests shaped as `bot/devkit/driver.py` shapes them, on
keep-alive connections from a Python client on the same machine. `SLACK_API_URL` points at
the Slack double (`bot/devkit/slack_double.py`'s `FakeSlack`) in a process of its own
(`bench/double.py`). PostgreSQL is the throwaway cluster of `bot/devkit/postgres.py`
(fsync=off: commits cost less than on a production server); SQLite is a file with the bot's
own settings (WAL, synchronous=FULL). CPU figures are read from /proc for the bot's server
and background processes, the floor's, the Slack double's and (for PostgreSQL) the whole
cluster.
"""
