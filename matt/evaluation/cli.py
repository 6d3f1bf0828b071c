"""``matt-eval``: robust accuracy of every defense under five query-based attacks.

Examples::

    matt-eval --bundle fmnist --profile quick -o docs/results/fmnist-quick
    matt-eval --bundle fmnist --profile paper -o docs/results/fmnist-paper --time-limit 600
    matt-eval --bundle fmnist --url 127.0.0.1:8000 --defenses remote -o runs/eval-remote
"""

from __future__ import annotations

import os
import shlex
import sys
from pathlib import Path

import click

from matt.assets import POOLS
from matt.cli.options import seed_option
from matt.cli_common import matt_command, run_cli
from matt.errors import InputError
from matt.evaluation.checkpoint import DEFAULT_CHECKPOINTS
from matt.evaluation.defenses import DEFENSES
from matt.evaluation.evaluate import EvalRequest, check_names, evaluate
from matt.evaluation.profiles import PROFILES
from matt.evaluation.report import console_table


def _names(text: str | None, option: str) -> tuple[str, ...] | None:
    if text is None:
        return None
    names = tuple(part.strip() for part in text.split(",") if part.strip())
    if not names:
        raise InputError(f"{option} needs at least one name, e.g. {option} square,nes")
    return names


def attack_specs(text: str | None) -> tuple[str, ...] | None:
    """``--attacks``: names split on commas, where a ``key=value`` item without an attack name
    continues the previous attack's overrides (``eot-square:p_init=0.05,eot_samples=10``)."""
    names = _names(text, "--attacks")
    if names is None:
        return None
    specs: list[str] = []
    for item in names:
        if "=" in item and ":" not in item:
            if not specs or ":" not in specs[-1]:
                raise InputError(f"--attacks: {item!r} is an override with no attack before it; "
                                 "write it after ATTACK:key=value")
            specs[-1] += f",{item}"
        else:
            specs.append(item)
    return tuple(specs)


def parse_budgets(text: str | None) -> tuple[int, ...] | None:
    """``"200,1000,2500"`` → (200, 1000, 2500); refuses non-integers, zero, repeats."""
    if text is None:
        return None
    try:
        budgets = tuple(int(part) for part in text.split(","))
    except ValueError:
        raise InputError(f"--budgets must be comma-separated query counts like 200,1000,2500, "
                         f"got {text!r}") from None
    if min(budgets) < 1 or len(set(budgets)) != len(budgets):
        raise InputError(f"--budgets must be distinct positive query counts, got {text!r}")
    return tuple(sorted(budgets))


@matt_command("matt-eval", needs="eval")
@click.option("--bundle", default="fmnist", show_default=True,
              help=f"{' | '.join(POOLS)} (shipped weights) | a weights.pt | an exported bundle "
                   "folder")
@click.option("--runtime-bundle", default=None,
              help="a bundle exported from the --bundle weights: MATT runs on ONNX Runtime, as "
                   "deployed, while the torch baselines use the weights")
@click.option("--at-weights", default=None,
              help="weights.pt of the adversarially trained classifier (default: the shipped "
                   "<bundle>-at.pt when there is one)")
@click.option("--profile", type=click.Choice(sorted(PROFILES)), default="quick",
              show_default=True, help="quick: minutes on a CPU; paper: the full protocol")
@click.option("--attacks", default=None, help="comma-separated: nes,simba,square,boundary,"
                                              "hopskipjump, eot-square, eot-nes; overrides as "
                                              "eot-square:p_init=0.05,eot_samples=10 "
                                              "(default: the profile's)")
@click.option("--defenses", default=None,
              help=f"comma-separated: {','.join(DEFENSES)} (default: the profile's; with "
                   "--url: remote)")
@click.option("--budgets", default=None, help="query budgets, e.g. 200,1000,2500")
@click.option("--n-images", type=int, default=None, help="evaluation images per cell")
@click.option("--chunk", type=int, default=None,
              help="images per round; a batched attack (square, nes, eot-*) attacks a round's "
                   "images together, so larger rounds are faster (default: the profile's)")
@click.option("--k-images", type=int, default=None,
              help="images for Figure 6 (robust accuracy against K); 0 skips it")
@click.option("--patch-images", type=int, default=None,
              help="test images for Figure 11 (clean accuracy against patches); 0 skips it")
@seed_option(None)
@click.option("--url", default=None, help="attack a live matt-serve server at HOST:PORT")
@click.option("--protocol", type=click.Choice(["http", "grpc"]), default="http",
              show_default=True)
@click.option("--eps-linf", type=float, default=None, help="ℓ∞ budget (default per dataset)")
@click.option("--eps-l2", type=float, default=None, help="ℓ2 budget (default per dataset)")
@click.option("--time-limit", type=float, default=None,
              help="minutes; stop resumably after this long (rerun to continue)")
@click.option("--threads", type=int, default=1, show_default=True, help="torch CPU threads")
@click.option("--figures/--no-figures", default=True, show_default=True)
@click.option("-o", "--output", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="results folder [default: runs/eval/<bundle>-<profile>]")
@click.option("--checkpoints", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="checkpoint folder [default: runs/eval-checkpoints/<output name>]")
@click.option("--overwrite", is_flag=True,
              help="replace a record in -o that other checkpoints wrote (a resume of the same "
                   "checkpoints needs no flag)")
def cmd(bundle: str, runtime_bundle: str | None, at_weights: str | None, profile: str,
        attacks: str | None,
        defenses: str | None, budgets: str | None, n_images: int | None, chunk: int | None,
        k_images: int | None, patch_images: int | None, seed: int | None,
        url: str | None, protocol: str, eps_linf: float | None, eps_l2: float | None,
        time_limit: float | None, threads: int, figures: bool, output: Path | None,
        checkpoints: Path | None, overwrite: bool) -> None:
    """Robust accuracy (Table 2) and Figures 5, 6 and 11 for one bundle."""
    if threads < 1:
        raise InputError(f"--threads must be >= 1, got {threads}")
    if time_limit is not None and time_limit <= 0:
        raise InputError(f"--time-limit must be a positive number of minutes, got {time_limit}")
    import torch

    torch.set_num_threads(threads)
    os.environ.setdefault("OMP_NUM_THREADS", str(threads))
    attack_names = attack_specs(attacks)
    defense_names = _names(defenses, "--defenses") or (("remote",) if url else None)
    check_names(attack_names or (), defense_names or ())
    if "remote" in (defense_names or ()) and url is None:
        raise InputError("defense remote needs --url HOST:PORT of a running matt-serve")
    for option, value in (("--k-images", k_images), ("--patch-images", patch_images)):
        if value is not None and value < 0:
            raise InputError(f"{option} must be >= 0, got {value}")
    if chunk is not None and chunk < 1:
        raise InputError(f"--chunk must be >= 1, got {chunk}")
    chosen = PROFILES[profile].with_overrides(attacks=attack_names, defenses=defense_names,
                                              budgets=parse_budgets(budgets), n_images=n_images,
                                              chunk=chunk,
                                              k_images=k_images, patch_images=patch_images)
    name = bundle if bundle in POOLS else Path(bundle).stem
    output = output or Path("runs/eval") / f"{name}-{profile}"
    request = EvalRequest(
        bundle=bundle, profile=chosen, output=output,
        checkpoints=checkpoints or DEFAULT_CHECKPOINTS / output.name,
        command=shlex.join(["matt-eval", *sys.argv[1:]]), at_weights=at_weights, seed=seed,
        url=url, protocol=protocol, eps_linf=eps_linf, eps_l2=eps_l2,
        time_limit_s=None if time_limit is None else 60 * time_limit, figures=figures,
        runtime_bundle=runtime_bundle, overwrite=overwrite)
    results = evaluate(request)
    click.echo(f"{'complete' if results['complete'] else 'partial (rerun to resume)'}: "
               f"{output}/README.md, results.json")
    click.echo(console_table(results, "online"))


def main() -> None:
    run_cli(cmd)
