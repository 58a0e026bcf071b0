"""A broker of the test's own, for tests that need one configured in a
particular way (e.g. a low memory watermark).

With $WARREN_BIN set (as `cargo xtask test` does), `start_warren(args)`
starts that binary on free loopback ports with a throwaway data directory
and stops it afterwards. Otherwise the test must be given an external broker
configured to match, or it is skipped.
"""

import contextlib
import os
import queue
import subprocess
import tempfile
import threading
import time

STARTUP_TIMEOUT = 60.0


@contextlib.contextmanager
def start_warren(args):
    """Yields (amqp_url, http_url) of a fresh warren started with `args`."""
    binary = os.environ["WARREN_BIN"]
    with tempfile.TemporaryDirectory(prefix="warren-pytest-") as data:
        cmd = [binary, "--amqp-bind", "127.0.0.1:0", "--http-bind", "127.0.0.1:0",
               "--prometheus-bind", "127.0.0.1:0", "--data-dir", os.path.join(data, "data"), *args]
        # warren logs to stderr: watched for startup, kept for failure reports.
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        lines = queue.Queue()

        def pump():
            for raw in proc.stderr:
                lines.put(raw.decode(errors="replace").rstrip("\n"))
            lines.put(None)

        threading.Thread(target=pump, daemon=True).start()
        amqp = http = None
        deadline = time.monotonic() + STARTUP_TIMEOUT
        try:
            while True:
                line = lines.get(timeout=max(0.1, deadline - time.monotonic()))
                if line is None:
                    raise RuntimeError(f"warren exited during startup: {cmd}")
                if line.startswith("warren: AMQP listening on "):
                    amqp = amqp or line.rsplit(" ", 1)[1]
                elif line.startswith("warren: HTTP listening on "):
                    http = http or line.rsplit(" ", 1)[1]
                elif line == "warren: ready":
                    break
            yield f"amqp://guest:guest@{amqp}/%2F", f"http://{http}"
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
