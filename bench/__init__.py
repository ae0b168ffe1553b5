"""Benchmarks for recovery-bot over real signed HTTP: ``python -m bench.run`` runs them and writes
docs/PERFORMANCE.md (``bench/report.py`` renders it); each also runs alone, with ``--help``.
Nothing here is imported by the product.
"""
