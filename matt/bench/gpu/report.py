"""The record of a GPU run: the machine it ran on, then one JSON and one Markdown file."""

from __future__ import annotations

import json
import os
import platform
import shutil
import subprocess
from pathlib import Path
from typing import Any

from matt.bench.machine import cpu_model, library_versions, load_average
from matt.core.files import write_text_atomic


def device_info(device: str) -> dict[str, Any]:
    """torch, CUDA and cuDNN versions, the GPU's name and size, the precision switches."""
    import torch

    info: dict[str, Any] = {
        "torch": torch.__version__, "cuda": torch.version.cuda,
        "cudnn": torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None,
        "float32_matmul_precision": torch.get_float32_matmul_precision(),
        "cuda_matmul_allow_tf32": torch.backends.cuda.matmul.allow_tf32,
        "cudnn_allow_tf32": torch.backends.cudnn.allow_tf32,
        "cudnn_benchmark": torch.backends.cudnn.benchmark,
    }
    if device.startswith("cuda"):
        index = torch.device(device).index or 0
        props = torch.cuda.get_device_properties(index)
        info["gpu"] = {"name": props.name, "index": index,
                       "memory_gib": round(props.total_memory / 2**30, 1),
                       "capability": f"{props.major}.{props.minor}",
                       "multiprocessors": props.multi_processor_count,
                       "driver": _driver_version()}
    return info


def _driver_version() -> str | None:
    """The NVIDIA driver's version from nvidia-smi, where it is on the PATH."""
    if shutil.which("nvidia-smi") is None:
        return None
    try:
        found = subprocess.run(["nvidia-smi", "--query-gpu=driver_version",
                                "--format=csv,noheader"], capture_output=True, text=True,
                               timeout=20, check=True)
    except (OSError, subprocess.SubprocessError):
        return None
    return found.stdout.strip().splitlines()[0] if found.stdout.strip() else None


def machine_record(device: str) -> dict[str, Any]:
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = os.cpu_count() or 1
    return {"cpu_model": cpu_model(), "cpu_count": os.cpu_count(), "cpus_usable": usable,
            "platform": platform.platform(), "hostname": platform.node(),
            "load_average": load_average(), "libraries": library_versions(),
            **device_info(device)}


def write_record(result: dict[str, Any], folder: Path, name: str) -> list[Path]:
    """``<name>.json`` and ``<name>.md`` in ``folder``, each written whole or not at all."""
    paths = [folder / f"{name}.json", folder / f"{name}.md"]
    write_text_atomic(paths[0], json.dumps(result, indent=2, sort_keys=False) + "\n")
    write_text_atomic(paths[1], markdown(result))
    return paths


def _ms(value: float | None) -> str:
    return "–" if value is None else f"{value:.3f}" if value < 10 else f"{value:.1f}"


def _ratio(value: float | None) -> str:
    return "–" if value is None else f"{value:.2f}×"


def markdown(result: dict[str, Any]) -> str:
    run, machine = result["run"], result["machine"]
    gpu = machine.get("gpu")
    where = gpu["name"] if gpu else "the CPU" + (" (dry run)" if run["dry_run"] else "")
    lines = [f"# MATT, the classifier and DISCO on {where}", "",
             f"- command: `{run['command_line']}`",
             f"- git: `{run['git']['revision']}`" + (" (uncommitted changes)"
                                                     if run['git'].get('dirty') else "")
             + (f" (from {run['git']['source']}: no git checkout here)"
                if run['git'].get('source') else ""),
             f"- started: {run['started']}; wall {run['wall_s']:.0f} s of a {run['budget_s']:g} "
             "s budget",
             f"- machine: {machine['cpu_model']}, {machine['cpus_usable']} CPUs usable, "
             f"{machine['platform']}; load average at the end {machine['load_average']}",
             f"- torch {machine['torch']}, CUDA {machine['cuda']}, cuDNN {machine['cudnn']}; "
             f"TF32 in cuDNN convolutions {machine['cudnn_allow_tf32']}, in matmuls "
             f"{machine['cuda_matmul_allow_tf32']} (torch's defaults, unchanged)"]
    if gpu:
        lines.append(f"- GPU: {gpu['name']} ({gpu['memory_gib']} GiB, capability "
                     f"{gpu['capability']}, {gpu['multiprocessors']} SMs, driver "
                     f"{gpu['driver'] or 'unknown'})")
    lines += [f"- timer: {result['method']['timer']}", f"- subject: {_subject(result)}", ""]
    lines += _tests_markdown(result["gpu_tests"])
    for table in result["tables"].values():
        lines += _table_markdown(table)
    return "\n".join(lines) + "\n"


def _subject(result: dict[str, Any]) -> str:
    subject, tiling = result["subject"], result["subject"]["tiling"]
    digest = f" (sha256 {subject['sha256'][:12]}…)" if subject.get("sha256") else ""
    return (f"{subject['weights']}{digest}: {subject['trained_members']} trained members of "
            f"the {subject['pool_size']} timed (the rest random-init stand-ins of the same "
            f"specs), native {tiling['native_size']}×{tiling['native_size']}, patch "
            f"{tiling['patch']}, halo {tiling['halo']} (the patch grid is kept at other sizes)")


def _tests_markdown(tests: dict[str, Any]) -> list[str]:
    lines = ["## GPU tests", ""]
    if not tests.get("ran"):
        return [*lines, f"Not run: {tests.get('reason')}.", ""]
    lines.append(f"`{tests['command']}`: exit {tests['exit_code']}, {tests['wall_s']} s"
                 + (f"; {tests['reason']}" if tests.get("reason") else ""))
    if tests["mode"] == "collect":
        lines.append(f"collected only: {len(tests['collected'])} tests")
    else:
        lines.append(", ".join(f"{count} {state}" for state, count in tests["counts"].items()))
        lines += ["", "| test | outcome |", "| --- | --- |"]
        lines += [f"| `{name}` | {state} |" for name, state in tests["outcomes"].items()]
    return [*lines, ""]


def _table_markdown(table: dict[str, Any]) -> list[str]:
    lines = [f"## {table['name']}", "",
             f"{table['rounds']['note']} ({table['rounds']['timed_done']} timed after "
             f"{table['rounds']['warmup_done']} warm-up; share {table['share_s']:.0f} s, "
             f"wall {table['wall_s']:.0f} s). Engines at the largest K: "
             f"{table.get('engines') or '–'}. Classifier: {table['classifier']}.", "",
             "| row | median ms | IQR ms (p25–p75) | p99 ms | host median ms | images/s | n | "
             "first call ms |", "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for label, row in table["rows"].items():
        if "median_ms" not in row:
            lines.append(f"| {label} | {row['not_timed']} | | | | | 0 | "
                         f"{_ms(row['first_call_ms'])} |")
            continue
        lines.append(f"| {label} | {_ms(row['median_ms'])} | {_ms(row['iqr_ms'])} "
                     f"({_ms(row['p25_ms'])}–{_ms(row['p75_ms'])}) | {_ms(row['p99_ms'])} | "
                     f"{_ms(row['host_median_ms'])} | {row['images_per_s']:.0f} | {row['n']} | "
                     f"{_ms(row['first_call_ms'])} |")
    lines.append("")
    lines += [f"- {name}: {_ratio(value)}" for name, value in table["figures"].items()]
    lines += [f"- not timed: {label}: {why}" for label, why in table["skipped"].items()]
    return [*lines, ""]
