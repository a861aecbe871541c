"""ImageFolderExampleGen: a TFX FileBasedExampleGen for folders of images, labelled or not."""

from __future__ import annotations

from typing import List, Mapping, Optional

from tfx.components.example_gen import component
from tfx.dsl.components.base import executor_spec
from tfx.proto import example_gen_pb2

from tfx_transfer.components.image_folder_example_gen import executor
from tfx_transfer.components.image_folder_example_gen import layout as layout_lib
from tfx_transfer.components.image_folder_example_gen import split_configs
from tfx_transfer.trainer.common import checks
from tfx_transfer.trainer.data import storage


class ImageFolderExampleGen(component.FileBasedExampleGen):
    """Reads `<input_base>/<label>/*`, `<input_base>/<split>/<label>/*`, or (unlabelled) every
    file below input_base into tf.Examples.

    Each example has `image` (the file's bytes), `label` (its folder's name; none in the
    unlabelled layout) and `id` (its path below input_base, '/'-separated). Files that are not
    images are not written: each is counted (Beam counters `rejected[<split>]` and
    `rejected_<reason>[<split>]`), logged, and listed in `<examples uri>/rejected_files.json`
    (`specs.REJECTED_FILES_REPORT`); the counts per split and reason are the `rejected_files`
    custom property of `examples`.

    The folder is checked when the pipeline is built, if this machine can read it, and again
    when the step runs: a ValueError names what is wrong (a missing or empty input_base, a
    single class, a class folder without images, a split folder without class folders, an
    unlabelled folder without images at any depth, bad split_ratios). A folder that cannot be
    read here (a `gs://` path on a machine without credentials) is assumed to have the given
    layout ('auto': class folders; split folders named train and eval), and `skipped_checks`
    says so.

    Args:
      input_base: the folder of images, local or any `tf.io.gfile` path (`gs://...`).
      layout: `'class_folders'` (`<label>/<file>`; splits drawn from `split_ratios` as TFX hash
        buckets over `id`, so a file keeps its split), `'split_folders'`
        (`<split>/<label>/<file>`; the split folders are the splits) or `'auto'` (split folders
        when every top-level folder is named like a split: train, eval, val, test, ...), or
        `'unlabelled'` (every image file at any depth below input_base, e.g. from the serving
        domain, in the one output split `'unlabelled'`; folder names are ignored and the
        examples have no `label`; 'auto' never picks it).
      split_ratios: hash-bucket weights per output split for the class-folder layout, default
        `{'train': 8, 'eval': 2}`; refused for the other layouts.

    Outputs:
      examples: Examples, gzipped TFRecords of tf.Example, one folder per split.
    """

    EXECUTOR_SPEC = executor_spec.BeamExecutorSpec(executor.Executor)

    def __init__(
        self,
        input_base: str,
        layout: str = layout_lib.LAYOUT_AUTO,
        split_ratios: Optional[Mapping[str, int]] = None,
    ):
        checks.check_choice("layout", layout, layout_lib.LAYOUTS)
        if split_ratios is not None and layout != layout_lib.LAYOUT_UNLABELLED:
            # Bad ratios fail before the folder is read; the unlabelled layout refuses any.
            split_configs.check_split_ratios(split_ratios)
        status = storage.path_status(input_base) if isinstance(input_base, str) and input_base else None
        # Checks this machine could not run; they run when the step executes.
        self.skipped_checks: List[str] = []
        if status is None or status.reachable:
            folder = layout_lib.scan_image_folder(input_base, layout)
        else:
            folder = layout_lib.unchecked_folder(input_base, layout)
            self.skipped_checks.append(
                status.skipped("ImageFolderExampleGen input_base")
                + f" Assumed layout {folder.layout!r}"
                + (f" with split folders {list(folder.splits)}." if folder.splits else ".")
            )
        input_config, output_config = split_configs.example_gen_configs(folder, split_ratios)
        super().__init__(
            input_base=folder.input_base,
            input_config=input_config,
            output_config=output_config,
            output_data_format=example_gen_pb2.FORMAT_TF_EXAMPLE,
        )
        # What the build-time scan found (layout, classes, split folders); classes are empty
        # when the folder could not be read here.
        self.image_folder = folder
        # The output splits: 'unlabelled', the split folders, or the split_ratios' names.
        self.output_splits = split_configs.output_splits(folder, split_ratios)
