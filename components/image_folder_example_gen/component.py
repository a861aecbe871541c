"""ImageFolderExampleGen: a TFX FileBasedExampleGen for folders of labelled images."""

from __future__ import annotations

from typing import Mapping, Optional

from tfx.components.example_gen import component
from tfx.dsl.components.base import executor_spec
from tfx.proto import example_gen_pb2

from tfx_transfer.components.image_folder_example_gen import executor
from tfx_transfer.components.image_folder_example_gen import layout as layout_lib


class ImageFolderExampleGen(component.FileBasedExampleGen):
    """Reads `<input_base>/<label>/*` or `<input_base>/<split>/<label>/*` into tf.Examples.

    Each example has `image` (the file's bytes), `label` (its folder's name) and `id` (its path
    below input_base, '/'-separated).

    `layout`: `'class_folders'` (`<label>/<file>`; splits drawn from `split_ratios`, default
    `{'train': 8, 'eval': 2}`, as TFX hash buckets over `id`, so a file's split is stable),
    `'split_folders'` (`<split>/<label>/<file>`; the split folders are the splits) or
    `'auto'` (split folders when every top-level folder is named like a split: train, eval,
    val, validation, test, ...). The folder is checked here, when the pipeline is built, and
    a ValueError names what is wrong: a missing or empty input_base, a single class, a class
    folder without images, a split folder without class folders, bad split_ratios.

    Files that are not images are not written. Each is counted (Beam counters
    `rejected[<split>]` and `rejected_<reason>[<split>]`), logged, and listed in
    `<examples uri>/rejected_files.json` (`specs.REJECTED_FILES_REPORT`); the counts per split
    and reason are the `rejected_files` custom property of `examples`.

    Output `examples`: Examples, gzipped TFRecords of tf.Example, one folder per split.
    """

    EXECUTOR_SPEC = executor_spec.BeamExecutorSpec(executor.Executor)

    def __init__(
        self,
        input_base: str,
        layout: str = layout_lib.LAYOUT_AUTO,
        split_ratios: Optional[Mapping[str, int]] = None,
    ):
        if split_ratios is not None:
            layout_lib.check_split_ratios(split_ratios)
        folder = layout_lib.scan_image_folder(input_base, layout)
        input_config, output_config = layout_lib.example_gen_configs(folder, split_ratios)
        super().__init__(
            input_base=folder.input_base,
            input_config=input_config,
            output_config=output_config,
            output_data_format=example_gen_pb2.FORMAT_TF_EXAMPLE,
        )
        # What the scan found (layout, classes, split folders); for logs and tests.
        self.image_folder = folder
