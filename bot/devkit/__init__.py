"""The offline kit: Slack doubles, the signed-request driver, the transcript, the demo and
process helpers. The tests, the demo and the benchmarks use it; the product never imports it
(``python -m bot demo`` loads it only when asked)."""
