"""How fast the configurator plans: 10,000 operator configurations planned from nothing, then
replanned unchanged against what the first pass produced (every change must be `unchanged`).
Baseline, measured in the same run on the same documents: plain pydantic validation of the
configuration (`OperatorConfiguration.model_validate`), the least any planner must do.

    .venv/bin/python bench/plan_throughput.py [--count 10000] [--seed 7]

Prints plans per second (wall clock, and per second of this process's CPU time, which other load
on a shared machine does not skew) and peak memory (tracemalloc, in a second pass) for each phase,
and the ratio of time per plan to time per baseline validation.
"""

import argparse
import gc
import random
import sys
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from contracts.configuration import SERVICES, OperatorConfiguration  # noqa: E402
from services.configurator.domain.plans import plan_configuration  # noqa: E402
from services.configurator.domain.policy import Policy  # noqa: E402


def configurations(count: int, seed: int) -> list[tuple[str, dict]]:
    rng = random.Random(seed)
    fleet = []
    for number in range(count):
        operator = f"op{number:05d}"
        enabled = rng.sample(SERVICES, rng.randint(1, 3))
        document = {
            "domain": f"{operator}.example.org",
            "initialUser": {"username": "admin", "displayName": f"Operator {number}", "email": f"admin@{operator}.example.org"},
            "mastodon": {"enable": "mastodon" in enabled, "registrations": rng.choice(["open", "approval", "closed"])},
            "peertube": {"enable": "peertube" in enabled, "maxUploadGib": rng.randint(1, 64), "dataOnDisable": rng.choice(["keep", "delete"])},
            "pixelfed": {"enable": "pixelfed" in enabled, "maxPhotoMib": rng.randint(1, 100)},
        }
        fleet.append((operator, document))
    return fleet


def timed(work: Callable[[], object]) -> tuple[tuple[float, float], object]:
    """((wall seconds, CPU seconds), what `work` returned)."""
    gc.collect()
    started, cpu = time.perf_counter(), time.process_time()
    result = work()
    return (time.perf_counter() - started, time.process_time() - cpu), result


def peak_mib(work: Callable[[], object]) -> float:
    gc.collect()
    tracemalloc.start()
    kept = work()  # noqa: F841 - held so the peak includes what the phase produces
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return peak / 1024**2


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()

    policy = Policy()
    fleet = configurations(args.count, args.seed)

    def baseline():
        return [OperatorConfiguration.model_validate(document) for _, document in fleet]

    def plan_all():
        return [plan_configuration(operator, document, policy) for operator, document in fleet]

    def replan_all(first):
        return lambda: [plan_configuration(op, doc, policy, plan.resources) for (op, doc), plan in zip(fleet, first, strict=True)]

    base_seconds, _ = timed(baseline)
    plan_seconds, first = timed(plan_all)
    replan_seconds, second = timed(replan_all(first))
    if any(change.action != "unchanged" for plan in second for change in plan.changes):
        raise SystemExit("a configuration replanned unchanged produced changes")
    resources = sum(len(plan.resources) for plan in first)

    base_peak = peak_mib(baseline)
    plan_peak = peak_mib(plan_all)
    replan_peak = peak_mib(replan_all(first))  # on top of the first pass's plans, which it reads

    n = args.count
    print(f"{n} operator configurations, {resources} resources ({resources / n:.1f} per operator), default policy")
    print(f"{'phase':28} {'seconds':>8} {'per second':>11} {'CPU s':>7} {'per CPU s':>10} {'peak MiB':>9} {'x baseline':>11}")
    for name, (seconds, cpu), peak in (
        ("baseline: pydantic validate", base_seconds, base_peak),
        ("plan from nothing", plan_seconds, plan_peak),
        ("replan unchanged", replan_seconds, replan_peak),
    ):
        ratio = cpu / base_seconds[1]
        print(f"{name:28} {seconds:8.2f} {n / seconds:11.0f} {cpu:7.2f} {n / cpu:10.0f} {peak:9.1f} {ratio:11.1f}")
    print("every replan: 0 changes")


if __name__ == "__main__":
    main()
