"""Dataset readers and samplers: every reader returns images in [0, 1] NCHW float32."""

from matt.data.cifar10 import load_cifar10
from matt.data.fashion_mnist import load_fashion_mnist
from matt.data.foolbox_samples import foolbox_data_dir, load_foolbox_samples
from matt.data.image_folder import load_image_folder
from matt.data.natural_crops import natural_photos, sample_natural_crops
from matt.data.subset import balanced_correct_subset
from matt.data.types import LabelledImages

__all__ = [
    "LabelledImages",
    "balanced_correct_subset",
    "foolbox_data_dir",
    "load_cifar10",
    "load_fashion_mnist",
    "load_foolbox_samples",
    "load_image_folder",
    "natural_photos",
    "sample_natural_crops",
]
