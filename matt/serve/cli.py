"""``matt-serve``: purified classification behind nginx and Triton Inference Server.

Writes a model repository for the bundle into a private run folder, runs ``tritonserver`` on it
(listening on Unix sockets there) and nginx in front of it (the only network listener; it
bounds every body and refuses what would crash Triton), supervises both, prints where it
listens and how to call it, and on SIGTERM or Ctrl-C lets Triton drain its in-flight requests.
"""

from __future__ import annotations

import signal
import threading
from pathlib import Path
from types import FrameType

import click

from matt.cli.options import threads_option
from matt.cli_common import matt_command, run_cli
from matt.errors import MattError
from matt.formats.bundle import load_bundle
from matt.serve.bundles import resolve_bundle
from matt.serve.options import (
    BACKENDS,
    CLASSIFY,
    DEFAULT_BODY_TIMEOUT_S,
    DEFAULT_MAX_BODY_BYTES,
    OUTPUTS,
    PURIFY,
    UNDEFENDED,
    ServeOptions,
)
from matt.serve.repository import write_model_repository
from matt.serve.service import Service
from matt.serve.tritonserver import Ports

_ROLES = {CLASSIFY: "purified classification", PURIFY: "purified images (--expose-purify)",
          UNDEFENDED: "UNDEFENDED classifier, for comparison only"}
LOOPBACK = ("127.0.0.1", "::1", "localhost")


def usage(address: str, local: str, ports: Ports, models: list[str], options: ServeOptions,
          input_shape: tuple[int, ...]) -> str:
    """Where the service listens and how to call it, for the log."""
    shown = "probabilities" if options.output == "probs" else "labels only"
    shape = [1, *input_shape]
    pixels = 1
    for size in input_shape:
        pixels *= size
    host = f"[{local}]" if ":" in local else local
    lines = [f"matt-serve: ready, returning {shown}; models:"]
    lines += [f"  {name:<12} {_ROLES[name]}" for name in models]
    lines += [
        f"  HTTP     http://{address}:{ports.http}  (Open Inference Protocol / KServe v2, "
        "through nginx)",
        f"  gRPC     {address}:{ports.grpc}",
        f"  metrics  http://{address}:{ports.metrics}/metrics",
    ]
    if address not in LOOPBACK:
        lines.append(f"  OPEN to the network on {address}, without authentication")
    lines += [
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
@click.option("--backend", type=click.Choice(BACKENDS),
              default="auto", show_default=True, help="Runtime backend of each model instance.")
@click.option("--address", default="127.0.0.1", show_default=True,
              help="Interface to listen on. The default serves this machine only; 0.0.0.0 "
                   "opens the service to the network, without authentication (docs/serving.md).")
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
@click.option("--expose-purify", is_flag=True,
              help="Also serve 'matt_purify', the purified images (they help an attacker).")
@click.option("--max-body-bytes", type=click.IntRange(min=1024), default=DEFAULT_MAX_BODY_BYTES,
              show_default=True, help="Largest request body; larger ones are refused unread.")
@click.option("--body-timeout-s", type=click.IntRange(min=1), default=DEFAULT_BODY_TIMEOUT_S,
              show_default=True, help="Seconds the whole body of one request may take.")
@click.option("--expose-undefended", is_flag=True,
              help="Also serve 'classifier', the undefended baseline (never in production).")
@click.option("--drain-timeout-s", type=click.IntRange(min=0), default=30, show_default=True,
              help="On SIGTERM, how long in-flight requests may take to finish.")
@click.option("--restarts-per-minute", type=click.IntRange(min=0), default=5,
              show_default=True,
              help="Restart a server that dies at once, this often; more crashes wait.")
@click.option("--write-repository", type=click.Path(path_type=Path), default=None,
              help="Only write a portable Triton model repository here and exit (a new "
                   "version if it exists).")
def serve(bundle: str | None, backend: str, address: str, http_port: int, grpc_port: int,
          metrics_port: int, max_batch: int, max_queue_delay_us: int, instances: int,
          threads: int, output: str, expose_purify: bool, max_body_bytes: int,
          body_timeout_s: int, expose_undefended: bool, drain_timeout_s: int,
          restarts_per_minute: int, write_repository: Path | None) -> None:
    """Serve BUNDLE (a bundle folder, a weights.pt or shipped weights by name; default: the
    shipped cifar10 weights) with Triton Inference Server over HTTP and gRPC."""
    options = ServeOptions(backend=backend, max_batch=max_batch,
                           max_queue_delay_us=max_queue_delay_us, instances=instances,
                           threads=threads, output=output, expose_undefended=expose_undefended,
                           expose_purify=expose_purify, max_body_bytes=max_body_bytes,
                           body_timeout_s=body_timeout_s)
    ports = Ports(http_port, grpc_port, metrics_port)
    bundle_dir = resolve_bundle(bundle)
    if write_repository is not None:
        models = write_model_repository(bundle_dir, write_repository, options)
        click.echo(f"wrote {write_repository} with models {', '.join(models)} for {bundle_dir}")
        return
    service = Service(bundle_dir, options, ports, address=address,
                      drain_timeout_s=drain_timeout_s, restarts_per_minute=restarts_per_minute)
    _run(service, bundle_dir)


def _run(service: Service, bundle_dir: Path) -> None:
    input_shape = load_bundle(bundle_dir, verify=False).manifest.input_shape
    signalled: list[str] = []

    def stop(signum: int, frame: FrameType | None) -> None:
        if not signalled:
            signalled.append(signal.Signals(signum).name)
            click.echo(f"matt-serve: {signalled[0]}, draining in-flight requests", err=True)
        service.request_stop()

    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        click.echo(f"matt-serve: serving {bundle_dir}", err=True)
        try:
            service.start()
        except MattError:
            if not signalled:
                raise
        if not signalled:
            click.echo(usage(service.address, service.local_address, service.ports,
                             service.models, service.options, input_shape), err=True)
        # The supervisor runs in a thread that outlives the servers it restarts; the main
        # thread stays free for the signal handlers.
        threading.Thread(target=service.supervise, daemon=True, name="supervisor").start()
        while not service.stopping.wait(0.5):
            pass
    finally:
        code = service.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if service.failure:
        raise MattError(service.failure)
    if code != 0:
        raise MattError(f"tritonserver exited with code {code} while draining")
    click.echo("matt-serve: stopped", err=True)


def main() -> None:
    run_cli(serve)
