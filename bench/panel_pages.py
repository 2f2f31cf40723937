"""How fast the panel answers its pages with 20 operators using it at once, on the whole stack
(`fedi up`'s processes on the sandbox). Each simulated operator signs up, fills in the
configuration form once, then opens its pages in a loop as fast as the answers come: home, the
configuration form, the plan review (asked from the configurator over request/reply) and the
history. Baseline, measured in the same run under the same load: /healthz (no database, no
template), the least any answer costs.

    .venv/bin/python bench/panel_pages.py [--users 20] [--rounds 10]

Prints the median, mean, 90th percentile and worst response time per page and over all pages, and
pages per second. The operators ask again as soon as they are answered, so the mean time follows from
the pages per second; the median alone hides answers held up behind others.
"""

import argparse
import asyncio
import re
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from fedi.stack import Stack  # noqa: E402
from runtime.nats_server import free_port  # noqa: E402

PAGES = ("/", "/configure", "/review", "/deployments")
BASELINE = "/healthz"
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


async def post_form(client: httpx.AsyncClient, page: str, action: str, data: dict) -> httpx.Response:
    token = CSRF.search((await client.get(page)).text).group(1)
    response = await client.post(action, data={"csrf_token": token, **data})
    assert response.status_code == 303, (action, response.status_code, response.text[:500])
    return response


async def operator(client: httpx.AsyncClient, number: int) -> None:
    name = f"bench{number:03d}"
    domain = f"{name}.example.org"
    await post_form(client, "/signup", "/signup", {"email": f"admin@{domain}", "operator_id": name, "password": "bench passphrase long"})
    await post_form(client, "/configure", "/configure", {
        "domain": domain, "initialUser.username": "admin", "initialUser.displayName": f"Bench {number}",
        "initialUser.email": f"admin@{domain}", "mastodon.enable": "on", "mastodon.registrations": "approval",
        "mastodon.dataOnDisable": "keep", "peertube.maxUploadGib": "4", "peertube.dataOnDisable": "keep",
        "pixelfed.maxPhotoMib": "15", "pixelfed.dataOnDisable": "keep",
    })


async def browse(client: httpx.AsyncClient, rounds: int, timings: dict[str, list[float]]) -> None:
    for _ in range(rounds):
        for path in (*PAGES, BASELINE):
            started = time.perf_counter()
            response = await client.get(path)
            elapsed = time.perf_counter() - started
            assert response.status_code == 200, (path, response.status_code)
            timings[path].append(elapsed)


def line(name: str, values: list[float]) -> str:
    ordered = sorted(values)
    p90 = ordered[int(0.9 * (len(ordered) - 1))]
    return (f"  {name:<14} median {statistics.median(ordered) * 1000:7.1f} ms   mean {statistics.fmean(ordered) * 1000:7.1f} ms   "
            f"p90 {p90 * 1000:7.1f} ms   worst {ordered[-1] * 1000:7.1f} ms   ({len(ordered)} answers)")


async def measure(panel_url: str, users: int, rounds: int) -> None:
    clients = [httpx.AsyncClient(base_url=panel_url, timeout=60) for _ in range(users)]
    try:
        for number, client in enumerate(clients):
            await operator(client, number)
        timings: dict[str, list[float]] = defaultdict(list)
        started = time.perf_counter()
        await asyncio.gather(*(browse(client, rounds, timings) for client in clients))
        wall = time.perf_counter() - started
    finally:
        for client in clients:
            await client.aclose()
    pages = [t for path in PAGES for t in timings[path]]
    print(f"{users} operators at once, {rounds} rounds of {len(PAGES)} pages each:")
    for path in PAGES:
        print(line(path, timings[path]))
    print(line("all pages", pages))
    print(line(f"{BASELINE} (baseline)", timings[BASELINE]))
    print(f"  {len(pages) / wall:.1f} pages per second; median page / median baseline = "
          f"{statistics.median(pages) / statistics.median(timings[BASELINE]):.1f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=10)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as home:
        stack = Stack(Path(home), panel_port=free_port())
        try:
            stack.start()
            asyncio.run(measure(stack.panel_url, args.users, args.rounds))
        finally:
            stack.stop()


if __name__ == "__main__":
    main()
