"""The ExampleGen input and output configs of each image-folder layout, and the layout read back.

`layout` finds what a folder holds; this module encodes it for TFX's FileBasedExampleGen (one
input split per split folder, one class-folder split hashed into `split_ratios`, or the one
any-depth `unlabelled` split), and reads the layout back from a compiled input config, so the
executor can check the folder again against what the pipeline was built for.
"""

from __future__ import annotations

from typing import Dict, Mapping, Optional, Tuple

from tfx.proto import example_gen_pb2

from tfx_transfer.components.image_folder_example_gen import reading
from tfx_transfer.components.image_folder_example_gen.layout import (
    LAYOUT_CLASS_FOLDERS, LAYOUT_SPLIT_FOLDERS, LAYOUT_UNLABELLED, UNLABELLED_SPLIT, ImageFolder, check_split_name,
    scan_image_folder,
)

DEFAULT_SPLIT_RATIOS = {"train": 8, "eval": 2}
CLASS_PATTERN = "*/*"
SINGLE_SPLIT = "single_split"


def check_split_ratios(split_ratios: Mapping[str, int]) -> Dict[str, int]:
    """`split_ratios` as a dict, or a ValueError saying what is wrong with it."""
    example = f"e.g. {DEFAULT_SPLIT_RATIOS!r}"
    if not isinstance(split_ratios, Mapping) or len(split_ratios) < 2:
        raise ValueError(
            f"split_ratios must map at least two split names to positive integer weights "
            f"({example}), got {split_ratios!r}."
        )
    for name, weight in split_ratios.items():
        check_split_name(name, "split_ratios key")
        if not isinstance(weight, int) or isinstance(weight, bool) or weight <= 0:
            raise ValueError(
                f"split_ratios[{name!r}] must be a positive integer weight ({example}), got {weight!r}."
            )
    return dict(split_ratios)


def _refuse_split_ratios(split_ratios: Optional[Mapping[str, int]], kept: str, alternative: str = "") -> None:
    """split_ratios make the splits of the class-folder layout only; `kept` says what the
    folder's layout does instead, `alternative` how else to get there."""
    if split_ratios is not None:
        raise ValueError(
            f"split_ratios={split_ratios!r} applies to the class-folder layout only; {kept}. "
            f"Leave split_ratios unset{alternative}."
        )


def example_gen_configs(
    folder: ImageFolder, split_ratios: Optional[Mapping[str, int]] = None
) -> Tuple[example_gen_pb2.Input, example_gen_pb2.Output]:
    """The ExampleGen input and output configs that read `folder`."""
    if folder.layout == LAYOUT_UNLABELLED:
        _refuse_split_ratios(
            split_ratios,
            f"the unlabelled layout writes every image below {folder.input_base} to the one split "
            f"{UNLABELLED_SPLIT!r}",
        )
        input_config = example_gen_pb2.Input(
            splits=[example_gen_pb2.Input.Split(name=UNLABELLED_SPLIT, pattern=reading.ANY_DEPTH_PATTERN)]
        )
        # An empty output config keeps the input split as the output split.
        return input_config, example_gen_pb2.Output()
    if folder.layout == LAYOUT_SPLIT_FOLDERS:
        _refuse_split_ratios(
            split_ratios,
            f"{folder.input_base} has split folders {list(folder.splits)}, which are kept as they are",
            f", or pass layout={LAYOUT_CLASS_FOLDERS!r}",
        )
        input_config = example_gen_pb2.Input(
            splits=[
                example_gen_pb2.Input.Split(name=split, pattern=f"{split}/{CLASS_PATTERN}")
                for split in folder.splits
            ]
        )
        # An empty output config keeps the input splits as the output splits.
        return input_config, example_gen_pb2.Output()
    ratios = check_split_ratios(DEFAULT_SPLIT_RATIOS if split_ratios is None else split_ratios)
    input_config = example_gen_pb2.Input(
        splits=[example_gen_pb2.Input.Split(name=SINGLE_SPLIT, pattern=CLASS_PATTERN)]
    )
    output_config = example_gen_pb2.Output(
        split_config=example_gen_pb2.SplitConfig(
            splits=[
                example_gen_pb2.SplitConfig.Split(name=name, hash_buckets=weight)
                for name, weight in ratios.items()
            ],
            # Hash the path below input_base, not the bytes: a file keeps its split.
            partition_feature_name=reading.ID_FEATURE,
        )
    )
    return input_config, output_config


def output_splits(folder: ImageFolder, split_ratios: Optional[Mapping[str, int]] = None) -> Tuple[str, ...]:
    """The splits `folder` is written to: `UNLABELLED_SPLIT`, the split folders, or the names of
    `split_ratios` (default `DEFAULT_SPLIT_RATIOS`) for the class-folder layout."""
    if folder.layout == LAYOUT_UNLABELLED:
        return (UNLABELLED_SPLIT,)
    return folder.splits or tuple(split_ratios or DEFAULT_SPLIT_RATIOS)


def compiled_layout(input_config: example_gen_pb2.Input) -> Tuple[str, Tuple[str, ...]]:
    """(layout, split folders) that `example_gen_configs` encoded into `input_config`.

    The unlabelled layout is told by its pattern, not its split name: a split folder may be
    named 'unlabelled' too.
    """
    if [split.pattern for split in input_config.splits] == [reading.ANY_DEPTH_PATTERN]:
        return LAYOUT_UNLABELLED, ()
    names = tuple(split.name for split in input_config.splits)
    if names == (SINGLE_SPLIT,):
        return LAYOUT_CLASS_FOLDERS, ()
    return LAYOUT_SPLIT_FOLDERS, names


def check_compiled_layout(input_base: str, input_config: example_gen_pb2.Input) -> ImageFolder:
    """Runs the build-time folder checks again at execution, against what the pipeline assumed.

    Raises ValueError when the folder does not have the layout (or split folders) the pipeline
    was compiled for, e.g. after a compile on a machine that could not read the folder.
    """
    layout, splits = compiled_layout(input_config)
    folder = scan_image_folder(input_base, layout)
    if sorted(folder.splits) != sorted(splits):
        raise ValueError(
            f"{input_base} has split folders {list(folder.splits)}, but the pipeline was built "
            f"for split folders {list(splits)}. Rebuild (recompile) the pipeline from this folder."
        )
    return folder
