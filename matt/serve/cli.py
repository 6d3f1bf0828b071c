"""``matt-serve``: purified classification behind a Triton Inference Server.

Writes a model repository for the bundle into a temporary folder, runs ``tritonserver`` on it,
prints where it listens and how to call it, and on SIGTERM or Ctrl-C lets the server drain its
in-flight requests before exiting.
"""

from __future__ import annotations

import shutil
import signal
import tempfile
import time
from pathlib import Path
from types import FrameType

import click

from matt.bundle import load_bundle
from matt.cli.options import threads_option
from matt.cli_common import matt_command, run_cli
from matt.errors import MattError
from matt.serve.bundles import resolve_bundle
from matt.serve.options import CLASSIFY, OUTPUTS, PURIFY, UNDEFENDED, ServeOptions
from matt.serve.repository import write_model_repository
from matt.serve.tritonserver import Ports, TritonServer

_ROLES = {CLASSIFY: "purified classification", PURIFY: "purified images",
          UNDEFENDED: "UNDEFENDED classifier, for comparison only"}


def usage(server: TritonServer, models: list[str], options: ServeOptions,
          input_shape: tuple[int, ...]) -> str:
    """Where the server listens and how to call it, for the log."""
    host, ports = server.local_address, server.ports
    shown = "probabilities" if options.output == "probs" else "labels only"
    shape = [1, *input_shape]
    pixels = 1
    for size in input_shape:
        pixels *= size
    lines = [f"matt-serve: ready, returning {shown}; models:"]
    lines += [f"  {name:<12} {_ROLES[name]}" for name in models]
    lines += [
        f"  HTTP     http://{server.address}:{ports.http}  (Open Inference Protocol / KServe v2)",
        f"  gRPC     {server.address}:{ports.grpc}",
        f"  metrics  http://{server.address}:{ports.metrics}/metrics",
        "Call it with curl (one grey image):",
        "  python3 -c 'import json; print(json.dumps({\"inputs\": [{\"name\": \"images\", "
        f"\"shape\": {shape}, \"datatype\": \"FP32\", \"data\": [0.5] * {pixels}}}]}}))' \\",
        f"    | curl -s -d @- http://{host}:{ports.http}/v2/models/{CLASSIFY}/infer",
        "or from Python (images: float32 [N, C, H, W] in [0, 1]):",
        "  from matt.serve.client import MattClient",
        f"  client = MattClient('{host}:{ports.http}')  # or MattClient('{host}:{ports.grpc}', "
        "protocol='grpc')",
        "  labels = client.labels(images)",
        "Stop with Ctrl-C or SIGTERM: in-flight requests finish first.",
    ]
    return "\n".join(lines)


@matt_command("matt-serve", needs="serve", needs_unless="write_repository")
@click.argument("bundle", required=False)
@click.option("--backend", type=click.Choice(["auto", "onnxruntime", "tensorrt", "torch"]),
              default="auto", show_default=True, help="Runtime backend of each model instance.")
@click.option("--address", default="0.0.0.0", show_default=True,
              help="Interface to listen on (127.0.0.1: this machine only).")
@click.option("--http-port", type=int, default=8000, show_default=True)
@click.option("--grpc-port", type=int, default=8001, show_default=True)
@click.option("--metrics-port", type=int, default=8002, show_default=True)
@click.option("--max-batch", type=int, default=64, show_default=True,
              help="Most images per request and per dynamically formed batch.")
@click.option("--max-queue-delay-us", type=int, default=2000, show_default=True,
              help="How long a request may wait to be batched with others (µs).")
@click.option("--instances", type=int, default=1, show_default=True,
              help="Model instances (processes) per model.")
@threads_option(0, zero_means="the runtime's default; per model instance")
@click.option("--output", type=click.Choice(OUTPUTS), default="probs", show_default=True,
              help="probs: probabilities (score-based threat model); label: the label only "
                   "(decision-based).")
@click.option("--expose-undefended", is_flag=True,
              help="Also serve 'classifier', the undefended baseline (never in production).")
@click.option("--drain-timeout-s", type=click.IntRange(min=0), default=30, show_default=True,
              help="On SIGTERM, how long in-flight requests may take to finish.")
@click.option("--restarts-per-minute", type=click.IntRange(min=0), default=5,
              show_default=True,
              help="Restart a tritonserver that dies while serving, at most this often.")
@click.option("--write-repository", type=click.Path(path_type=Path), default=None,
              help="Only write the Triton model repository into this new folder and exit.")
def serve(bundle: str | None, backend: str, address: str, http_port: int, grpc_port: int,
          metrics_port: int, max_batch: int, max_queue_delay_us: int, instances: int,
          threads: int, output: str, expose_undefended: bool, drain_timeout_s: int,
          restarts_per_minute: int, write_repository: Path | None) -> None:
    """Serve BUNDLE (a bundle folder, a weights.pt or shipped weights by name; default: the
    shipped cifar10 weights) with Triton Inference Server over HTTP and gRPC."""
    options = ServeOptions(backend=backend, max_batch=max_batch,
                           max_queue_delay_us=max_queue_delay_us, instances=instances,
                           threads=threads, output=output, expose_undefended=expose_undefended)
    ports = Ports(http_port, grpc_port, metrics_port)
    bundle_dir = resolve_bundle(bundle)
    if write_repository is not None:
        models = write_model_repository(bundle_dir, write_repository, options)
        click.echo(f"wrote {write_repository} with models {', '.join(models)} for {bundle_dir}")
        return
    workspace = Path(tempfile.mkdtemp(prefix="matt-serve-"))
    try:
        models = write_model_repository(bundle_dir, workspace / "repository", options)
        _run(TritonServer(workspace / "repository", ports, address=address,
                          drain_timeout_s=drain_timeout_s), models, options, bundle_dir,
             restarts_per_minute)
    finally:
        shutil.rmtree(workspace, ignore_errors=True)


def _run(server: TritonServer, models: list[str], options: ServeOptions, bundle_dir: Path,
         restarts_per_minute: int) -> None:
    input_shape = load_bundle(bundle_dir, verify=False).manifest.input_shape
    stopping = False

    def stop(signum: int, frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True
        click.echo(f"matt-serve: {signal.Signals(signum).name}, draining in-flight requests",
                   err=True)
        server.terminate()

    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGTERM, signal.SIGINT)}
    crashes: list[float] = []
    code = 0
    try:
        click.echo(f"matt-serve: serving {bundle_dir}", err=True)
        while not stopping:
            server.start()
            try:
                server.wait_ready()
            except MattError:
                if not stopping:
                    raise
            if not stopping and not crashes:
                click.echo(usage(server, models, options, input_shape), err=True)
            elif not stopping:
                click.echo("matt-serve: restarted, ready again", err=True)
            code = server.wait()
            if stopping or code == 0:
                break
            now = time.monotonic()
            crashes = [t for t in crashes if now - t < 60.0] + [now]
            if len(crashes) > restarts_per_minute:
                raise MattError(f"tritonserver exited with code {code}, {len(crashes)} times "
                                "in a minute; giving up (its log above says why)")
            click.echo(f"matt-serve: tritonserver died (exit code {code}); restarting", err=True)
    finally:
        if server.process is not None and server.process.poll() is None:
            server.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if code != 0:
        raise MattError(f"tritonserver exited with code {code}")
    click.echo("matt-serve: stopped", err=True)


def main() -> None:
    run_cli(serve)
