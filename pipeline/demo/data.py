"""Demo data: scikit-learn's bundled digits as PNG class folders, no download needed.

`write_digits_demo(out_dir)` writes `out_dir/<split>/<label>/<index>.png` (split `train` or
`eval`, label the digit, index the row in `sklearn.datasets.load_digits`), which is the
split-folder layout ImageFolderExampleGen reads. Each 8x8 image, 0..16 grey levels, becomes a
`8*scale` square RGB PNG with values 0..255 (nearest-neighbour upscaling).

The split is stratified and depends only on (seed, digit, eval_fraction): writing digits 0-4
and 5-9 separately gives exactly the files of writing all ten. Writing is idempotent: the
`train` and `eval` folders of `out_dir` are replaced, nothing else in it is touched.
"""

from __future__ import annotations

from typing import Dict, Iterable, Optional

import numpy as np
import tensorflow as tf

SPLITS = ("train", "eval")
DIGITS = tuple(range(10))
_MAX_GREY = 16  # load_digits' images count 0..16.


def _check_args(scale: int, eval_fraction: float, classes: Optional[Iterable[int]]) -> list:
    if not isinstance(scale, int) or isinstance(scale, bool) or scale <= 0:
        raise ValueError(f"scale must be a positive integer, got {scale!r}.")
    if not isinstance(eval_fraction, (int, float)) or not 0 < eval_fraction < 1:
        raise ValueError(f"eval_fraction must be strictly between 0 and 1, got {eval_fraction!r}.")
    digits = list(DIGITS) if classes is None else [int(c) for c in classes]
    if not digits:
        raise ValueError("classes is empty; pass digits from 0 to 9, e.g. range(5).")
    unknown = sorted(set(digits) - set(DIGITS))
    if unknown:
        raise ValueError(f"classes {unknown} are not digits; valid classes are 0 to 9.")
    return sorted(set(digits))


def digit_png(image: np.ndarray, scale: int = 4) -> bytes:
    """One 8x8 0..16 digit image as an RGB PNG of `8*scale` pixels square, 0..255."""
    grey = np.rint(np.asarray(image, dtype=np.float64) * (255.0 / _MAX_GREY)).clip(0, 255)
    grey = np.kron(grey.astype(np.uint8), np.ones((scale, scale), dtype=np.uint8))
    rgb = np.repeat(grey[:, :, np.newaxis], 3, axis=2)
    return tf.io.encode_png(rgb).numpy()


def eval_indices(targets: np.ndarray, digit: int, eval_fraction: float, seed: int) -> np.ndarray:
    """The rows of `digit` that go to eval: a seeded shuffle of that digit's rows, cut once."""
    rows = np.flatnonzero(targets == digit)
    rng = np.random.default_rng([seed, digit])
    shuffled = rng.permutation(rows)
    return np.sort(shuffled[: int(round(eval_fraction * len(rows)))])


def write_digits_demo(
    out_dir: str,
    scale: int = 4,
    eval_fraction: float = 0.2,
    seed: int = 0,
    classes: Optional[Iterable[int]] = None,
) -> Dict[str, Dict[str, int]]:
    """Writes the digits as `out_dir/{train,eval}/<digit>/<index>.png`.

    Args:
      out_dir: folder to write into (local or any `tf.io.gfile` path); created if needed.
      scale: upscaling factor; 4 gives 32x32 images.
      eval_fraction: share of each digit's images written to `eval`.
      seed: the split's seed.
      classes: the digits to write (default all ten), e.g. `range(5)`.

    Returns:
      Images written per split and label, e.g. `{'train': {'0': 142, ...}, 'eval': {...}}`.
    """
    from sklearn.datasets import load_digits  # Bundled with scikit-learn: no download.

    digits = _check_args(scale, eval_fraction, classes)
    data = load_digits()
    images, targets = data.images, data.target

    out_dir = out_dir.rstrip("/") or "/"
    for split in SPLITS:
        split_dir = f"{out_dir}/{split}"
        if tf.io.gfile.exists(split_dir):
            tf.io.gfile.rmtree(split_dir)

    counts: Dict[str, Dict[str, int]] = {split: {} for split in SPLITS}
    for digit in digits:
        label = str(digit)
        in_eval = set(eval_indices(targets, digit, eval_fraction, seed).tolist())
        for split in SPLITS:
            tf.io.gfile.makedirs(f"{out_dir}/{split}/{label}")
            counts[split][label] = 0
        for index in np.flatnonzero(targets == digit):
            split = "eval" if index in in_eval else "train"
            path = f"{out_dir}/{split}/{label}/{index}.png"
            with tf.io.gfile.GFile(path, "wb") as handle:
                handle.write(digit_png(images[index], scale))
            counts[split][label] += 1
    return counts
