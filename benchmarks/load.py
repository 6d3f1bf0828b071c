"""Load benchmark of ``matt-serve``: N concurrent clients for S seconds on loopback.

Starts the service ``matt-serve`` runs (nginx in front of Triton) on free loopback ports, or
(``--front triton``) a stock ``tritonserver`` on the model repository ``matt-serve`` writes, with
no proxy, to measure what the proxy costs (or uses ``--url``), runs ``--clients`` threads,
each with its own :class:`matt.serve.client.MattClient`, sending ``--batch`` real CIFAR-10
images per request back to back, and records latency percentiles, throughput and errors as
JSON with the command, the machine, its load and the git revision::

    .venv/bin/python benchmarks/load.py --clients 16 --seconds 30 \\
        --out benchmarks/results/serve-load.json

An existing ``--out`` is refused: records are never overwritten.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import shlex
import socket
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

from matt.bench.machine import git_state, load_average, machine_info
from matt.data.foolbox_samples import load_foolbox_samples
from matt.formats.bundle import load_bundle
from matt.serve.bundles import resolve_bundle
from matt.serve.client import MattClient
from matt.serve.options import ServeOptions
from matt.serve.repository import write_model_repository
from matt.serve.service import running_service
from matt.serve.tritonserver import Ports, TritonServer


def free_ports(count: int = 3) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    try:
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def client_loop(address: str, protocol: str, images: np.ndarray, batch: int,
                start: threading.Barrier, stop: threading.Event, latencies: list[float],
                errors: list[str]) -> None:
    """One client: its own connection (made in this thread), requests back to back."""
    rng = np.random.default_rng()
    with MattClient(address, protocol, timeout_s=60) as client:
        client.output_of(client.model)
        start.wait(60)
        while not stop.is_set():
            picks = rng.integers(0, len(images), batch)
            began = time.perf_counter()
            try:
                client.labels(images[picks])
            except Exception as exc:
                errors.append(f"{type(exc).__name__}: {exc}"[:300])
                continue
            latencies.append(time.perf_counter() - began)


def run_load(address: str, protocol: str, clients: int, seconds: float, batch: int
             ) -> dict[str, Any]:
    images = load_foolbox_samples("cifar10").images.astype(np.float32)
    per_client: list[list[float]] = [[] for _ in range(clients)]
    errors: list[str] = []
    start, stop = threading.Barrier(clients + 1), threading.Event()
    threads = [threading.Thread(target=client_loop, daemon=True, args=(
        address, protocol, images, batch, start, stop, per_client[i], errors))
        for i in range(clients)]
    for thread in threads:
        thread.start()
    start.wait(60)  # every client connected: the clock starts now
    began = time.monotonic()
    time.sleep(seconds)
    stop.set()
    for thread in threads:
        thread.join(seconds + 120)
    wall = time.monotonic() - began
    latencies = np.array([v for values in per_client for v in values]) * 1000.0
    return {
        "requests": len(latencies), "images": len(latencies) * batch, "errors": len(errors),
        "error_examples": sorted(set(errors))[:5], "wall_s": round(wall, 2),
        "throughput_requests_per_s": round(len(latencies) / wall, 2),
        "throughput_images_per_s": round(len(latencies) * batch / wall, 2),
        "latency_ms": {name: round(float(np.percentile(latencies, q)), 2) for name, q in
                       (("p50", 50), ("p90", 90), ("p99", 99), ("max", 100))}
        if len(latencies) else {},
        "requests_per_client": [len(values) for values in per_client],
    }


FRONTS = {"nginx": "nginx (matt-serve's proxy) in front of Triton",
          "triton": "a stock tritonserver on matt-serve's written model repository, no proxy"}


def describe_bundle(bundle_dir: Path) -> dict[str, Any]:
    manifest = load_bundle(bundle_dir).manifest
    return {"path": str(bundle_dir), "dataset": manifest.dataset,
            "input_shape": list(manifest.input_shape), "pool_size": len(manifest.purifiers),
            "patch": manifest.patch, "halo": manifest.halo,
            "purifier_parameters": [m.parameters for m in manifest.purifiers],
            "classifier_parameters": manifest.classifier.parameters,
            "weights_file": manifest.export.get("weights_file"),
            "weights_sha256": manifest.export.get("weights_sha256")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("bundle", nargs="?", help="as for matt-serve (default: shipped cifar10)")
    parser.add_argument("--url", help="use a running server (host:port) instead of starting one")
    parser.add_argument("--protocol", choices=("http", "grpc"), default="http")
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--batch", type=int, default=1, help="images per request")
    parser.add_argument("--instances", type=int, default=1)
    parser.add_argument("--threads", type=int, default=0)
    parser.add_argument("--max-queue-delay-us", type=int, default=2000)
    parser.add_argument("--front", choices=("nginx", "triton"), default="nginx",
                        help="nginx: matt-serve's service; triton: a stock tritonserver on the "
                             "written repository, no proxy")
    parser.add_argument("--out", type=Path, required=True, help="JSON file to write (new)")
    args = parser.parse_args()
    if args.out.exists():
        parser.error(f"{args.out} exists; records are never overwritten (choose another --out)")

    options = ServeOptions(instances=args.instances, threads=args.threads,
                           max_queue_delay_us=args.max_queue_delay_us)
    record: dict[str, Any] = {
        "benchmark": "matt-serve load",
        "command_line": shlex.join([sys.executable, *sys.argv]),
        "started": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "git": git_state(Path(__file__).resolve().parents[1]),
        "machine": machine_info(threads=os.cpu_count() or 1),
        "load_average_start": load_average(),
        "settings": {"clients": args.clients, "seconds": args.seconds, "batch": args.batch,
                     "protocol": args.protocol, "instances": args.instances,
                     "threads": args.threads, "max_queue_delay_us": args.max_queue_delay_us,
                     "transport": "loopback"},
    }
    if args.url:
        record["results"] = run_load(args.url, args.protocol, args.clients, args.seconds,
                                     args.batch)
    else:
        bundle_dir = resolve_bundle(args.bundle)
        record["bundle"] = describe_bundle(bundle_dir)
        record["settings"]["front"] = FRONTS[args.front]
        with tempfile.TemporaryDirectory(prefix="matt-load-") as workspace, \
                open(Path(workspace) / "service.log", "wb") as log:
            if args.front == "nginx":
                server = running_service(bundle_dir, options, Ports(*free_ports()),
                                         address="127.0.0.1", log=log, say=lambda line: None)
            else:
                repository = Path(workspace) / "repository"
                write_model_repository(bundle_dir, repository, options)
                server = TritonServer(repository, Ports(*free_ports()), address="127.0.0.1",
                                      log=log)
            with server as running:
                port = running.ports.http if args.protocol == "http" else running.ports.grpc
                record["results"] = run_load(f"127.0.0.1:{port}", args.protocol, args.clients,
                                             args.seconds, args.batch)
    record["load_average_end"] = load_average()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    partial = args.out.with_suffix(".partial")
    partial.write_text(json.dumps(record, indent=2) + "\n")
    partial.replace(args.out)
    print(json.dumps(record["results"], indent=2))


if __name__ == "__main__":
    main()
