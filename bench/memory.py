"""Resident memory of `python -m bot serve` as incidents pile up, and across repeated
rounds of the same load. Targets: at most 5 MB more per 10,000 incidents, and flat from
round to round (no leak)."""
from __future__ import annotations

import argparse
import sys
import threading
import time
from pathlib import Path
from typing import Any

from bench.common import SIGNING_SECRET, Databases, Probe, Workdir, descendants, log, machine, start_recovery
from bot.devkit.slack_double import FakeSlack
from bot.devkit.driver import SlackDriver


def rss_mib(pid: int) -> float:
    """The server's resident memory plus its background process's (`serve` forks one)."""
    return sum(_own_rss_mib(one) for one in [pid, *descendants(pid)])


def _own_rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


def _flag_many(driver: SlackDriver, fake: FakeSlack, count: int, *, threads: int = 16) -> int:
    messages = [fake.add_user_message("C1", user="UCUST", text=f"complaint {n}") for n in range(count)]
    errors = []

    def work(part: list) -> None:
        for message in part:
            if driver.react(channel="C1", ts=message.ts).status != 200:
                errors.append(message.ts)

    workers = [threading.Thread(target=work, args=(messages[n::threads],)) for n in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return len(errors)


def run(kind: str = "sqlite", *, per_round: int, rounds: int) -> dict[str, Any]:
    workdir = Workdir()
    databases = Databases(kind, workdir.path)
    fake = FakeSlack().start()
    try:
        url = databases.new("memory")
        served = start_recovery(database_url=url, api_url=fake.api_url, workdir=workdir.path)
        probe = Probe(url)
        driver = SlackDriver(url=f"http://127.0.0.1:{served.port}/slack/events", signing_secret=SIGNING_SECRET,
                             fake=fake)
        errors = _flag_many(driver, fake, 200)
        probe.wait_drained(60)
        samples = [rss_mib(served.pid)]
        log(f"memory: after warm-up {samples[0]:.1f} MiB")
        for round_ in range(rounds):
            errors += _flag_many(driver, fake, per_round)
            drained, _ = probe.wait_drained(300)
            time.sleep(0.5)
            samples.append(rss_mib(served.pid))
            log(f"memory: round {round_ + 1}: {per_round:,} more incidents, {samples[-1]:.1f} MiB "
                f"(drained: {drained})")
        incidents = int(probe.scalar("SELECT count(*) FROM incident"))
        served.stop()
        probe.dispose()
    finally:
        fake.stop()
        databases.close()
        workdir.close()
    growth = [(after - before) / per_round * 10_000 for before, after in zip(samples, samples[1:])]
    return {"database": kind, "per_round": per_round, "rounds": rounds, "samples_mib": samples,
            "growth_mib_per_10k": growth, "first_round_mib_per_10k": growth[0],
            "later_rounds_mib_per_10k": max(growth[1:]) if len(growth) > 1 else None,
            "incidents": incidents, "errors": errors}


def markdown(result: dict[str, Any]) -> str:
    samples = " → ".join(f"{value:.1f}" for value in result["samples_mib"])
    growth = ", ".join(f"{value:.2f}" for value in result["growth_mib_per_10k"])
    return "\n".join([
        "## Memory", "",
        f"`serve` on {result['database']}: a warm-up of 200 flags, then {result['rounds']} rounds of "
        f"{result['per_round']:,} flags on new messages, each drained to Slack before RSS is read.", "",
        f"- RSS (MiB): {samples}",
        f"- growth per 10,000 incidents, round by round (MiB): {growth} (target ≤ 5, and flat)",
        f"- incidents stored: {result['incidents']:,}; failed requests: {result['errors']}", "",
    ])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--per-round", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)
    result = run(args.database, per_round=500 if args.quick else args.per_round, rounds=2 if args.quick else args.rounds)
    print(f"machine: {machine()}")
    print(markdown(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
