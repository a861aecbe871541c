"""A small labelled image folder for the pipeline tests: 3 learnable classes, split folders."""

from __future__ import annotations

import os

import pytest

from testdata import class_png

CLASSES = ("circle", "square", "triangle")


def write_image_folder(root: str, train_per_class: int = 8, eval_per_class: int = 4) -> str:
    for split_index, (split, count) in enumerate((("train", train_per_class), ("eval", eval_per_class))):
        for index, label in enumerate(CLASSES):
            folder = os.path.join(root, split, label)
            os.makedirs(folder, exist_ok=True)
            for i in range(count):
                with open(os.path.join(folder, f"{i}.png"), "wb") as f:
                    # A seed per (split, class, image), the same in every process.
                    f.write(class_png(index, len(CLASSES), seed=10_000 * split_index + 100 * index + i))
    return root


@pytest.fixture(scope="module")
def image_folder(tmp_path_factory) -> str:
    return write_image_folder(str(tmp_path_factory.mktemp("images")))
