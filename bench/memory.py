"""Resident memory of `python -m bot serve` as incidents pile up, and across repeated
rounds of the same load. Targets: at most 5 MB more per 10,000 incidents, and flat from
round to round (no leak).

Memory is not latency: the Slack double runs in this process, and flags go through the
test kit's driver from 16 threads.
"""
from __future__ import annotations

import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, ClassVar

from bench import cli
from bench.load import EVENTS_PATH, SIGNING_SECRET
from bench.meter import rss_mib
from bench.rig import Rig, log
from bot.devkit.driver import SlackDriver
from bot.devkit.slack_double import FakeSlack

WARM_UP = 200


@dataclass
class Config:
    database: str = cli.database_field()
    per_round: int = 10_000
    rounds: int = 3
    quick: bool = False
    QUICK: ClassVar[dict[str, Any]] = dict(per_round=500, rounds=2)


def _flag_many(driver: SlackDriver, fake: FakeSlack, count: int) -> int:
    """Flag ``count`` new messages; returns how many were not answered 200."""
    messages = [fake.add_user_message("C1", user="UCUST", text=f"complaint {n}") for n in range(count)]
    with ThreadPoolExecutor(max_workers=16) as pool:
        statuses = list(pool.map(lambda message: driver.react(channel="C1", ts=message.ts).status, messages))
    return sum(1 for status in statuses if status != 200)


def run(config: Config) -> dict[str, Any]:
    with FakeSlack() as fake, Rig(config.database) as rig:
        url = rig.database("memory")
        served = rig.bot(url, api_url=fake.api_url).wait_healthy(60)
        probe = rig.probe(url)
        driver = SlackDriver(url=served.url + EVENTS_PATH, signing_secret=SIGNING_SECRET, fake=fake)
        errors = _flag_many(driver, fake, WARM_UP)
        probe.wait_drained(60)
        samples = [rss_mib(served.pid)]
        log(f"memory: after warm-up {samples[0]:.1f} MiB")
        for round_ in range(config.rounds):
            errors += _flag_many(driver, fake, config.per_round)
            drained, _ = probe.wait_drained(300)
            time.sleep(0.5)
            samples.append(rss_mib(served.pid))
            log(f"memory: round {round_ + 1}: {samples[-1]:.1f} MiB (drained: {drained})")
        incidents = probe.count("incident")
    growth = [(after - before) / config.per_round * 10_000 for before, after in zip(samples, samples[1:])]
    return {"database": config.database, "per_round": config.per_round, "rounds": config.rounds,
            "samples_mib": samples, "growth_mib_per_10k": growth, "incidents": incidents, "errors": errors}


if __name__ == "__main__":
    sys.exit(cli.main("memory", Config, run, __doc__))
