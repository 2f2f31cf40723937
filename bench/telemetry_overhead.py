"""What tracing and metrics cost the pipeline: the same deployments (Mastodon + Pixelfed) through two
stacks started in the same run, one with OpenTelemetry spans exported over OTLP/HTTP (to a local
sink) and the Prometheus endpoints on, one with both off, taken in turns so that the machine's noise
falls on both alike.

    .venv/bin/python bench/telemetry_overhead.py [--runs 7]

ratio = median with telemetry / median without; 1.00 means it costs nothing measurable.
"""

import argparse
import statistics
import sys
import tempfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import through_control_plane  # noqa: E402
from fedi.stack import SERVICES, Stack  # noqa: E402
from runtime.nats_server import free_port  # noqa: E402


class OtlpSink(BaseHTTPRequestHandler):
    """Accepts OTLP/HTTP exports like a collector would, and counts the bytes."""

    received = 0

    def do_POST(self) -> None:  # noqa: N802
        OtlpSink.received += len(self.rfile.read(int(self.headers.get("Content-Length", 0))))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args) -> None:
        pass


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=7)
    runs = parser.parse_args().runs
    sink = ThreadingHTTPServer(("127.0.0.1", 0), OtlpSink)
    threading.Thread(target=sink.serve_forever, daemon=True).start()
    endpoint = f"http://127.0.0.1:{sink.server_port}/v1/traces"
    with tempfile.TemporaryDirectory() as on_home, tempfile.TemporaryDirectory() as off_home:
        exported = {f"FEDI_{service.upper()}_OTLP_ENDPOINT": endpoint for service in SERVICES}
        on = Stack(Path(on_home), panel_port=free_port(), env=exported).start()
        off = Stack(Path(off_home), panel_port=free_port(), telemetry=False).start()
        timings: dict[str, list[float]] = {"on": [], "off": []}
        try:
            through_control_plane(on, "warmup")
            through_control_plane(off, "warmup")
            for i in range(runs):
                timings["on"].append(through_control_plane(on, f"on{i}"))
                timings["off"].append(through_control_plane(off, f"off{i}"))
        finally:
            on.stop()
            off.stop()
            sink.shutdown()
    with_telemetry, without = statistics.median(timings["on"]), statistics.median(timings["off"])
    print(f"telemetry off (baseline): median {without:.3f} s over {runs} deployments")
    print(f"telemetry on:             median {with_telemetry:.3f} s over {runs} deployments ({OtlpSink.received} bytes of spans exported)")
    print(f"ratio on / off: {with_telemetry / without:.2f}")


if __name__ == "__main__":
    main()
