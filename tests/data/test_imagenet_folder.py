"""ImageNet-layout folder reader (``<root>/<wnid>/<image>.JPEG``), on a tree the test writes."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from matt.data.imagenet_folder import load_imagenet_folder, read_centre_crop
from matt.errors import DataError

WNIDS = ("n01440764", "n01443537", "n15075141")  # tench, goldfish, toilet tissue


def write_tree(root):
    """Three wnid folders; JPEGs of several sizes and aspect ratios, one PNG."""
    rng = np.random.default_rng(0)
    for wnid in WNIDS:
        (root / wnid).mkdir(parents=True)
        for index, size in enumerate(((500, 375), (300, 400), (224, 224))):
            pixels = rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
            name = f"{wnid}_{index}.JPEG" if index < 2 else f"{wnid}_{index}.png"
            Image.fromarray(pixels).save(root / wnid / name, quality=90)
        (root / wnid / "README.txt").write_text("not an image")  # ignored by suffix
    return root


def test_labels_follow_sorted_wnids_and_images_are_224_centre_crops(tmp_path):
    data = load_imagenet_folder(write_tree(tmp_path))
    assert data.class_names == WNIDS
    np.testing.assert_array_equal(data.labels, np.repeat([0, 1, 2], 3))
    assert data.images.shape == (9, 3, 224, 224) and data.images.dtype == np.float32
    assert data.images.min() >= 0.0 and data.images.max() <= 1.0
    # A 224² PNG is read exactly (no resize, no crop).
    original = np.asarray(Image.open(tmp_path / WNIDS[1] / f"{WNIDS[1]}_2.png"))
    np.testing.assert_allclose(data.images[5].transpose(1, 2, 0) * 255, original, atol=1e-3)


def test_shorter_side_resized_then_centre_cropped(tmp_path):
    # Four vertical quarters red, green, blue, white on 400×100: the shorter side becomes 224
    # (896 wide), the centre 224 columns (336..560) are green left of 448, blue right of it.
    image = np.zeros((100, 400, 3), dtype=np.uint8)
    image[:, :100, 0] = image[:, 100:200, 1] = image[:, 200:300, 2] = 255
    image[:, 300:] = 255
    Image.fromarray(image).save(tmp_path / "wide.png")
    crop = read_centre_crop(tmp_path / "wide.png", 224)
    assert crop.shape == (224, 224, 3)
    np.testing.assert_array_equal(crop[112, 50], [0, 255, 0])
    np.testing.assert_array_equal(crop[112, 170], [0, 0, 255])


def test_class_index_and_limit(tmp_path):
    write_tree(tmp_path)
    index = {WNIDS[0]: 0, WNIDS[1]: 1, WNIDS[2]: 999}
    data = load_imagenet_folder(tmp_path, size=64, class_index=index, limit_per_class=2)
    assert data.images.shape == (6, 3, 64, 64)
    np.testing.assert_array_equal(data.labels, [0, 0, 1, 1, 999, 999])
    with pytest.raises(DataError, match="not in the class index"):
        load_imagenet_folder(tmp_path, class_index={WNIDS[0]: 0})


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda root: None, "does not exist"),
        (lambda root: root.mkdir(), "no class subfolders"),
        (lambda root: (root / "n01440764").mkdir(parents=True), "holds no"),
        (lambda root: ((root / "n01440764").mkdir(parents=True),
                       (root / "n01440764" / "x.JPEG").write_bytes(b"\xff\xd8 truncated")),
         "cannot read image"),
    ],
)
def test_bad_trees_are_refused_with_one_line(tmp_path, make, message):
    root = tmp_path / "train"
    make(root)
    with pytest.raises(DataError, match=message) as caught:
        load_imagenet_folder(root)
    assert "\n" not in str(caught.value)
