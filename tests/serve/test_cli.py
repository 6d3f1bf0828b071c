"""``matt-serve`` as a user runs it: the usage log, label-only output, SIGTERM drains."""

import os
import signal
import subprocess
import threading
import time

import numpy as np
import pytest

from matt.errors import InputError
from matt.serve.client import MattClient, RemoteError
from tests.serve.conftest import MATT_SERVE, free_ports, real_images, wait_for

QUEUE_DELAY_S = 1.5


@pytest.fixture(scope="module")
def cli_server(serve_bundle, tmp_path_factory):
    """``matt-serve BUNDLE --output label`` with a long batching delay: requests stay queued."""
    http, grpc, metrics = free_ports()
    log_path = tmp_path_factory.mktemp("cli") / "matt-serve.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [str(MATT_SERVE), str(serve_bundle), "--address", "127.0.0.1",
             "--http-port", str(http), "--grpc-port", str(grpc), "--metrics-port", str(metrics),
             "--output", "label", "--threads", "1", "--drain-timeout-s", "20",
             "--max-queue-delay-us", str(int(QUEUE_DELAY_S * 1e6))],
            stdout=log, stderr=subprocess.STDOUT, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        banner = wait_for(log_path, "Stop with Ctrl-C", process, 120)
        yield process, banner, log_path, (http, grpc, metrics)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_usage_log_says_where_and_how(cli_server):
    _, banner, _, (http, grpc, metrics) = cli_server
    assert f"http://127.0.0.1:{http}" in banner and f"127.0.0.1:{grpc}" in banner
    assert f":{metrics}/metrics" in banner
    assert f"curl -s -d @- http://127.0.0.1:{http}/v2/models/matt/infer" in banner
    assert "MattClient(" in banner and "labels only" in banner
    assert "matt_purify" not in banner and "UNDEFENDED" not in banner  # both opt-in
    assert "OPEN to the network" not in banner


def test_label_only_and_no_undefended_model(cli_server):
    _, _, _, (http, grpc, _) = cli_server
    images, _ = real_images()
    for address, protocol in ((f"127.0.0.1:{http}", "http"), (f"127.0.0.1:{grpc}", "grpc")):
        with MattClient(address, protocol) as client:
            labels = client.labels(images[:3])
            assert labels.shape == (3,) and labels.dtype == np.int64
            assert ((labels >= 0) & (labels < 10)).all()
            with pytest.raises(InputError, match="labels only"):
                client.predict(images[:3])
        with MattClient(address, protocol, model="classifier") as client, \
                pytest.raises(InputError, match="unknown model"):
            client.labels(images[:1])
        with MattClient(address, protocol) as client, \
                pytest.raises(InputError, match="unknown model"):
            client.purify(images[:1])


def test_sigterm_drains_in_flight_requests(cli_server):
    process, _, log_path, (http, _, _) = cli_server
    images, _ = real_images()
    answers: dict[int, object] = {}

    def one(index: int) -> None:
        try:
            with MattClient(f"127.0.0.1:{http}", "http") as client:
                answers[index] = client.labels(images[index:index + 1])
        except Exception as exc:
            answers[index] = exc

    threads = [threading.Thread(target=one, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    time.sleep(QUEUE_DELAY_S / 3)  # the requests now wait in the dynamic batcher's queue
    process.send_signal(signal.SIGTERM)
    for thread in threads:
        thread.join(60)
    assert all(isinstance(a, np.ndarray) and a.shape == (1,) for a in answers.values()), answers
    assert len(answers) == 4
    assert process.wait(60) == 0
    log = log_path.read_text()
    assert "draining in-flight requests" in log and "matt-serve: stopped" in log
    with pytest.raises(RemoteError):
        MattClient(f"127.0.0.1:{http}", "http", timeout_s=2).labels(images[:1])


@pytest.mark.parametrize(("args", "needle"), [
    (["/no/such/bundle"], "no such bundle"),
    (["--instances", "0"], "instances"),
    (["--output", "logits"], "logits"),
    (["--max-body-bytes", "10"], "max-body-bytes"),
])
def test_bad_arguments_are_one_error_line(args, needle, tmp_path):
    run = subprocess.run([str(MATT_SERVE), *args], capture_output=True, text=True, timeout=120,
                         env={**os.environ, "MATT_CACHE_DIR": str(tmp_path)})
    assert run.returncode == 2, run.stderr
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and needle in lines[0], run.stderr
