"""Construction-time checks of an image folder: which layout it has, and what is in it.

`split_configs` turns what these checks found into the ExampleGen configs that read it. Three
layouts are read:

- `class_folders`: `<input_base>/<label>/<file>`. One input split (`*/*`); the output splits
  come from `split_ratios` as TFX hash buckets over the `id` feature (the path below
  input_base), so a file keeps its split across runs, new files and a moved input_base.
- `split_folders`: `<input_base>/<split>/<label>/<file>`. One input split per split folder
  (`<split>/*/*`), written as given.
- `unlabelled`: every file at any depth below input_base, e.g. images from the serving domain.
  One input split `unlabelled` whose pattern is Beam's any-depth glob (`**`), written as the one
  output split `unlabelled`; the examples have no label (folder names are ignored). `'auto'`
  never picks it. TFX's driver fingerprints the pattern with `tf.io.gfile.glob`, which reads
  `**` as `*`, so with caching on a change below the top-level entries alone does not rerun
  the step.

The checks read only folder listings and, per class folder, the first bytes of files until
one is an image (for the unlabelled layout: folder by folder until one holds an image), so
they are cheap even for large folders and on `gs://` (all paths go through `tf.io.gfile`). The
files themselves are read by the Beam pipeline. In the labelled layouts, files at other depths
(directly in input_base or in a split folder, or in a subfolder of a class folder) are not
read; those seen here are logged.
"""

from __future__ import annotations

import dataclasses
import logging
import re
from typing import Dict, List, Optional, Tuple

import tensorflow as tf

from tfx_transfer.components.image_folder_example_gen import reading
from tfx_transfer.trainer.data import preprocessing as pp

LAYOUT_AUTO = "auto"
LAYOUT_SPLIT_FOLDERS = "split_folders"
LAYOUT_CLASS_FOLDERS = "class_folders"
LAYOUT_UNLABELLED = "unlabelled"
LAYOUTS = (LAYOUT_AUTO, LAYOUT_SPLIT_FOLDERS, LAYOUT_CLASS_FOLDERS, LAYOUT_UNLABELLED)
# The one output split of the unlabelled layout.
UNLABELLED_SPLIT = "unlabelled"

# The split folders assumed when a folder cannot be read at build time.
DEFAULT_SPLIT_FOLDERS = ("train", "eval")
# Top-level folder names that make `layout='auto'` read the split-folder layout.
SPLIT_FOLDER_NAMES = frozenset(
    {"train", "training", "eval", "evaluation", "val", "valid", "validation", "dev", "test", "testing"}
)

_SPLIT_NAME = re.compile(r"^[A-Za-z0-9_-]+$")
_MAX_LOGGED_NAMES = 10


@dataclasses.dataclass(frozen=True)
class ImageFolder:
    """What the construction-time scan found."""

    input_base: str
    layout: str  # LAYOUT_SPLIT_FOLDERS, LAYOUT_CLASS_FOLDERS or LAYOUT_UNLABELLED
    classes: Tuple[str, ...]  # sorted; over all splits for the split-folder layout; empty if unlabelled
    splits: Tuple[str, ...] = ()  # split folders, sorted; empty for the other layouts


def _join(base: str, name: str) -> str:
    return f"{base}/{name}"


def _listing(path: str) -> Tuple[List[str], List[str]]:
    """(folders, files) directly in `path`, sorted by name; OS metadata (`reading.is_os_metadata`) left out."""
    folders, files = [], []
    for entry in tf.io.gfile.listdir(path):
        name = entry.rstrip("/")
        if reading.is_os_metadata(name):
            continue
        if entry.endswith("/") or tf.io.gfile.isdir(_join(path, name)):
            folders.append(name)
        else:
            files.append(name)
    return sorted(folders), sorted(files)


def _has_image(folder: str, entries: Optional[List[str]] = None) -> bool:
    """Whether any file directly in `folder` starts like an image; stops at the first.

    `entries` is the folder's listing when the caller has it already (saves listing it again).
    """
    for entry in sorted(tf.io.gfile.listdir(folder) if entries is None else entries):
        if entry.endswith("/") or reading.is_os_metadata(entry):
            continue
        path = _join(folder, entry)
        try:
            with tf.io.gfile.GFile(path, "rb") as handle:
                header = handle.read(pp.IMAGE_HEADER_BYTES)
        except (tf.errors.OpError, IsADirectoryError):
            if tf.io.gfile.isdir(path):
                continue
            raise
        if pp.image_format(header):
            return True
    return False


def _has_image_at_any_depth(input_base: str) -> bool:
    """Whether any file at any depth below `input_base` starts like an image; stops at the first.

    Folders that are OS metadata (`__MACOSX`, hidden folders) are not searched: the executor
    ignores every file in them.
    """
    for folder, subfolders, files in tf.io.gfile.walk(input_base):
        # Pruned in place, as with os.walk: the walk does not descend into them.
        subfolders[:] = [name for name in subfolders if not reading.is_os_metadata(name)]
        if files and _has_image(folder, files):
            return True
    return False


def _names(names) -> str:
    names = sorted(names)
    shown = ", ".join(repr(n) for n in names[:_MAX_LOGGED_NAMES])
    return shown + (f" and {len(names) - _MAX_LOGGED_NAMES} more" if len(names) > _MAX_LOGGED_NAMES else "")


def _warn_unread(files: List[str], where: str) -> None:
    if files:
        logging.warning(
            "ImageFolderExampleGen does not read files directly in %s: %s. Put images in one "
            "folder per class.",
            where,
            _names(files),
        )


def check_split_name(name: str, what: str) -> None:
    if not isinstance(name, str) or not _SPLIT_NAME.match(name):
        raise ValueError(
            f"{what} {name!r} is not a valid split name; use letters, digits, '_' and '-' only "
            f"(e.g. 'train', 'eval')."
        )


def _check_class_folders(parent: str, classes: List[str], where: str) -> None:
    """Every class folder under `parent` holds at least one image."""
    empty = [label for label in classes if not _has_image(_join(parent, label))]
    if empty and len(empty) == len(classes):
        raise ValueError(
            f"No images in {where}: its class folders {_names(empty)} hold no png, jpeg, gif or "
            f"bmp files. Expected <label>/<image> files below {parent}."
        )
    if empty:
        raise ValueError(
            f"Class folder(s) {_names(empty)} in {where} hold no images (png, jpeg, gif or "
            f"bmp files directly in them; subfolders are not read). Add images to them or "
            f"remove them; every folder there is read as a class."
        )


def _check_two_classes(classes: List[str], input_base: str) -> None:
    if len(classes) < 2:
        raise ValueError(
            f"{input_base} has a single class {_names(classes)}; a classifier needs at least two "
            f"class folders (<label>/<image>)."
        )


def _scan_class_folders(input_base: str, folders: List[str], files: List[str]) -> ImageFolder:
    _warn_unread(files, input_base)
    _check_class_folders(input_base, folders, input_base)
    _check_two_classes(folders, input_base)
    return ImageFolder(input_base, LAYOUT_CLASS_FOLDERS, tuple(folders))


def _scan_split_folders(input_base: str, folders: List[str], files: List[str]) -> ImageFolder:
    _warn_unread(files, input_base)
    classes_per_split: Dict[str, List[str]] = {}
    for split in folders:
        check_split_name(split, "Split folder")
        split_dir = _join(input_base, split)
        classes, split_files = _listing(split_dir)
        if not classes:
            raise ValueError(
                f"Split folder {split!r} ({split_dir}) has no class folders; the split-folder "
                f"layout expects {input_base}/{split}/<label>/<image>. If {split!r} is a class, "
                f"pass layout={LAYOUT_CLASS_FOLDERS!r}."
            )
        _warn_unread(split_files, split_dir)
        _check_class_folders(split_dir, classes, f"split folder {split!r} ({split_dir})")
        classes_per_split[split] = classes
    all_classes = sorted({label for classes in classes_per_split.values() for label in classes})
    _check_two_classes(all_classes, input_base)
    for split, classes in classes_per_split.items():
        missing = set(all_classes) - set(classes)
        if missing:
            raise ValueError(
                f"Split {split!r} has no examples of class(es) {_names(missing)}: every class needs "
                f"images in every split (a class without evaluation examples cannot be evaluated). "
                f"Add {input_base}/{split}/<label>/ folders for them, or remove those classes."
            )
    return ImageFolder(input_base, LAYOUT_SPLIT_FOLDERS, tuple(all_classes), tuple(folders))


def _folder_path(input_base: str) -> str:
    """`input_base` without a trailing '/', or a ValueError when it is not a path at all."""
    if not isinstance(input_base, str) or not input_base:
        raise ValueError(f"input_base must be a folder path, got {input_base!r}.")
    return input_base.rstrip("/") or "/"


def scan_unlabelled_folder(input_base: str) -> ImageFolder:
    """Checks that `input_base` holds image files at some depth, for the unlabelled layout.

    Folder names are not labels here, so a folder of class or split folders is fine: its
    labels are ignored.

    Raises:
      ValueError: naming the folder, when it is missing or holds no image at any depth.
    """
    input_base = _folder_path(input_base)
    if not tf.io.gfile.isdir(input_base):
        raise ValueError(
            f"Unlabelled images folder {input_base!r} does not exist or is not a folder; pass a "
            f"folder holding image files (png, jpeg, gif or bmp) at any depth."
        )
    if not _has_image_at_any_depth(input_base):
        raise ValueError(
            f"Unlabelled images folder {input_base!r} holds no png, jpeg, gif or bmp files at any "
            f"depth (hidden folders and __MACOSX are not searched); pass a folder holding image "
            f"files, directly in it or in subfolders."
        )
    return ImageFolder(input_base, LAYOUT_UNLABELLED, ())


def _detect_layout(input_base: str, folders: List[str]) -> str:
    split_like = [name for name in folders if name.lower() in SPLIT_FOLDER_NAMES]
    if not split_like:
        return LAYOUT_CLASS_FOLDERS
    if len(split_like) == len(folders):
        return LAYOUT_SPLIT_FOLDERS
    others = sorted(set(folders) - set(split_like))
    raise ValueError(
        f"Cannot tell the layout of {input_base}: folders {_names(split_like)} look like split "
        f"folders but {_names(others)} do not. Pass layout={LAYOUT_SPLIT_FOLDERS!r} "
        f"(<split>/<label>/<image>) or layout={LAYOUT_CLASS_FOLDERS!r} (<label>/<image>)."
    )


def scan_image_folder(input_base: str, layout: str = LAYOUT_AUTO) -> ImageFolder:
    """Checks `input_base` against `layout` ('auto' detects it) and describes what is there.

    'auto' never detects the unlabelled layout; `layout='unlabelled'` runs
    `scan_unlabelled_folder`.

    Raises:
      ValueError: naming the bad value and what would be valid, when input_base is missing or
        empty, holds a single class, a class folder without images or a split folder without
        class folders, or when `layout` is unknown or cannot be detected.
    """
    if layout not in LAYOUTS:
        raise ValueError(f"Unknown layout {layout!r}; valid layouts are {list(LAYOUTS)}.")
    if layout == LAYOUT_UNLABELLED:
        return scan_unlabelled_folder(input_base)
    input_base = _folder_path(input_base)
    if not tf.io.gfile.isdir(input_base):
        raise ValueError(
            f"input_base {input_base!r} does not exist or is not a folder; expected a folder of "
            f"<label>/<image> or <split>/<label>/<image> files."
        )
    folders, files = _listing(input_base)
    if not folders:
        found = f" (it holds only the files {_names(files)})" if files else ""
        raise ValueError(
            f"input_base {input_base!r} has no images in folders{found}; expected "
            f"<label>/<image> or <split>/<label>/<image> files below it."
        )
    if layout == LAYOUT_AUTO:
        layout = _detect_layout(input_base, folders)
        logging.info("ImageFolderExampleGen: %s has the %s layout.", input_base, layout)
    if layout == LAYOUT_SPLIT_FOLDERS:
        return _scan_split_folders(input_base, folders, files)
    return _scan_class_folders(input_base, folders, files)


def unchecked_folder(input_base: str, layout: str) -> ImageFolder:
    """What is assumed of a folder this machine cannot read when the pipeline is built.

    `layout='auto'` assumes the class-folder layout; split folders are assumed to be named
    `DEFAULT_SPLIT_FOLDERS`. The classes are unknown (none for the unlabelled layout). The
    executor checks the folder against these assumptions before it reads a file
    (`check_compiled_layout`).
    """
    if layout not in LAYOUTS:
        raise ValueError(f"Unknown layout {layout!r}; valid layouts are {list(LAYOUTS)}.")
    base = input_base.rstrip("/")
    if layout == LAYOUT_SPLIT_FOLDERS:
        return ImageFolder(base, LAYOUT_SPLIT_FOLDERS, (), DEFAULT_SPLIT_FOLDERS)
    if layout == LAYOUT_UNLABELLED:
        return ImageFolder(base, LAYOUT_UNLABELLED, ())
    return ImageFolder(base, LAYOUT_CLASS_FOLDERS, ())
