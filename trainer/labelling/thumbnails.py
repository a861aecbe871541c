"""Thumbnails of the listed images (suspect labels, label next) in `model_run`, for the report.

The EvaluationReport reads only `model_run`, on any orchestrator; the images behind the lists
sit in the raw example files FineTuner was given. So FineTuner writes a small PNG of each
listed image next to the lists, and the report embeds them: a labeller sees the image, the
given or predicted label and the score in one row.
"""

from __future__ import annotations

import os
from typing import Any, Callable, Dict, Iterable, List, Mapping, Optional, Sequence

from tfx_transfer.trainer.data import records as records_lib, storage

# The longest side of a thumbnail, in pixels.
THUMBNAIL_PX = 64
# How many of a list get thumbnails: the report shows the first 50.
SHOWN = 50
FOLDER = "thumbnails"
# Looks images up by id: {id: encoded bytes} of those it finds.
ImageLookup = Callable[[Sequence[str]], Mapping[str, bytes]]


def bytes_by_id(file_pattern: records_lib.FilePattern, feature: str, wanted: Iterable[str]) -> Dict[str, bytes]:
    """{id: the bytes feature `feature`} of the records whose `id` is one of `wanted`, in one
    pass that stops once all are found (records without the feature, or not Examples, skipped)."""
    wanted, found = set(wanted), {}
    files = records_lib.list_files(file_pattern) if wanted else []
    for serialized in records_lib.record_dataset(files).as_numpy_iterator() if files else ():
        example = records_lib.parse_example(serialized)
        image_id = records_lib.example_id(example) if example is not None else ""
        features = example.features.feature if image_id in wanted else {}
        values = features[feature].bytes_list.value if feature in features else []
        if values and image_id not in found:
            found[image_id] = values[0]
            if len(found) == len(wanted):
                break
    return found


def lookup_in(file_pattern: Optional[records_lib.FilePattern], image_feature: str) -> Optional[ImageLookup]:
    """An ImageLookup over the raw example files `file_pattern` (their `image_feature` by `id`);
    None without files."""
    if not file_pattern:
        return None
    return lambda ids: bytes_by_id(file_pattern, image_feature, ids)


def thumbnail_png(data: bytes, size: int = THUMBNAIL_PX) -> Optional[bytes]:
    """The encoded image shrunk to fit `size` pixels (never enlarged), as PNG; None when it
    does not decode."""
    import tensorflow as tf

    try:
        image = tf.image.decode_image(data, channels=3, expand_animations=False)
    except (tf.errors.InvalidArgumentError, ValueError):
        return None
    height, width = int(image.shape[0]), int(image.shape[1])
    scale = min(1.0, size / max(height, width, 1))
    shape = (max(1, round(height * scale)), max(1, round(width * scale)))
    small = tf.image.resize(image, shape, antialias=True) if scale < 1.0 else tf.cast(image, tf.float32)
    return tf.io.encode_png(tf.cast(tf.clip_by_value(tf.round(small), 0, 255), tf.uint8)).numpy()


def add_thumbnails(
    records: List[Dict[str, Any]], lookup: Optional[ImageLookup], run_dir: str, kind: str,
) -> List[Dict[str, Any]]:
    """`records` (dicts with an `id`), the first `SHOWN` each with `thumbnail` (its PNG's path
    below `run_dir`, `thumbnails/<kind>/<rank>.png`) where `lookup` finds and decodes its image."""
    if lookup is None or not records:
        return records
    images = lookup([record["id"] for record in records[:SHOWN]])
    out = []
    for rank, record in enumerate(records[:SHOWN], start=1):
        png = thumbnail_png(images[record["id"]]) if record["id"] in images else None
        if png is None:
            out.append(record)
            continue
        relative = f"{FOLDER}/{kind}/{rank:03d}.png"
        storage.write_bytes(os.path.join(run_dir, relative), png)
        out.append({**record, "thumbnail": relative})
    return out + records[SHOWN:]


def read_thumbnails(listed: Any, run_dir: str, reader: Callable[[str], Optional[bytes]]) -> Dict[str, bytes]:
    """{relative path: PNG bytes} of the thumbnails a list of strategy.json names (`add_thumbnails`)."""
    found = {}
    for record in (listed or {}).get("images") or [] if isinstance(listed, Mapping) else []:
        relative = record.get("thumbnail") if isinstance(record, Mapping) else None
        if isinstance(relative, str) and relative.startswith(FOLDER + "/") and ".." not in relative:
            data = reader(os.path.join(run_dir, relative))
            if data:
                found[relative] = data
    return found
