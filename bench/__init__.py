"""Benchmarks for recovery-bot: ack latency and intake throughput over real signed HTTP.

Run them all with ``python -m bench.run`` (writes docs/PERFORMANCE.md); each also runs alone
(``python -m bench.ack_latency``, ``python -m bench.intake_throughput``). Nothing here is
imported by the product.
"""
