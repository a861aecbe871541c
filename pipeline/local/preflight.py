"""Checks a local image folder before a run, so bad files stop it before anything is written.

The pipeline itself never drops a file silently either (ImageFolderExampleGen counts and lists
non-images); this check lets `tfx-transfer run` refuse such data up front, naming the files,
unless the user chose to go on without them.
"""

from __future__ import annotations

import os
from typing import List, Tuple

from tfx_transfer.components.image_folder_example_gen.reading import is_os_metadata
from tfx_transfer.trainer.data import preprocessing as pp

REASON_NOT_AN_IMAGE = "not_an_image"
REASON_UNREADABLE = "unreadable"


def _walk(data_root: str):
    """(path, is OS metadata) of every file below `data_root`; metadata folders are not entered."""
    for root, folders, files in os.walk(data_root):
        ignored_folders = [name for name in folders if is_os_metadata(name)]
        folders[:] = sorted(name for name in folders if not is_os_metadata(name))
        for name in ignored_folders:
            for inner_root, _, inner_files in os.walk(os.path.join(root, name)):
                for inner in inner_files:
                    yield os.path.join(inner_root, inner), True
        for name in sorted(files):
            yield os.path.join(root, name), is_os_metadata(name)


def _reason(path: str) -> str:
    """Why the file at `path` is not a usable image ('' when it looks like one)."""
    try:
        with open(path, "rb") as f:
            header = f.read(pp.IMAGE_HEADER_BYTES)
    except OSError:
        return REASON_UNREADABLE
    if pp.image_format(header) is not None:
        return ""
    unsupported = pp.unsupported_format(header)
    if unsupported:
        return f"{pp.REASON_UNSUPPORTED_FORMAT} ({unsupported}; convert it to PNG or JPEG)"
    return REASON_NOT_AN_IMAGE


def scan(data_root: str) -> Tuple[List[Tuple[str, str]], List[str]]:
    """([(path, reason)] of every file below `data_root` that is unreadable or not a usable image,
    [paths of OS metadata files]: hidden files, AppleDouble `._*`, `__MACOSX/`, `Thumbs.db`,
    `desktop.ini`, which the pipeline ignores)."""
    bad: List[Tuple[str, str]] = []
    ignored: List[str] = []
    for path, metadata in _walk(data_root):
        if metadata:
            ignored.append(path)
            continue
        reason = _reason(path)
        if reason:
            bad.append((path, reason))
    return bad, ignored


def bad_files(data_root: str) -> List[Tuple[str, str]]:
    """(path, reason) for every file below `data_root` that is unreadable or not an image (see `scan`)."""
    return scan(data_root)[0]


def describe(bad: List[Tuple[str, str]], data_root: str, shown: int = 10) -> str:
    lines = [f"  {os.path.relpath(path, data_root)}: {reason}" for path, reason in bad[:shown]]
    more = f"\n  ... and {len(bad) - shown} more" if len(bad) > shown else ""
    return f"{len(bad)} file(s) in {data_root} are not readable images:\n" + "\n".join(lines) + more


class BadFilesError(ValueError):
    """Unreadable or non-image files in a local image folder."""


def check_folder(data_root: str, skip_bad_files: bool) -> None:
    """Refuses unreadable or non-image files in a local image folder, unless told to skip them;
    says which operating-system metadata files it ignores."""
    from tfx_transfer.trainer.data.storage import is_remote

    if is_remote(data_root) or not os.path.isdir(data_root):
        return
    bad, ignored = scan(data_root)
    if ignored:
        print(f"Ignoring {len(ignored)} operating-system metadata file(s) in {data_root} (hidden files, "
              "__MACOSX, Thumbs.db, desktop.ini): they are not images.")
    if bad and not skip_bad_files:
        raise BadFilesError(
            describe(bad, data_root) + "\nRemove them, or pass --skip-bad-files to run "
            "without them (the ImageFolderExampleGen output then lists them in rejected_files.json)."
        )
