"""Every file and example a run set aside, named with its reason, read back from the artifacts.

Two steps set data aside: ImageFolderExampleGen (files that are not usable images, listed in
its rejected-files report) and BottleneckExtractor (examples whose image does not decode or is
too large, written with a `reason` feature to its `rejected` artifact). The run summary
(`summary.json`) and the HTML report list them from here, so the user sees which files, and
why, without opening TFRecords.
"""

from __future__ import annotations

import json
from typing import Any, Dict, List, Optional

import tensorflow as tf
from tfx import types
from tfx.types import artifact_utils, standard_artifacts
from tfx.utils import io_utils

from tfx_transfer.components import specs
from tfx_transfer.components.image_folder_example_gen import report as report_lib
from tfx_transfer.trainer.data import preprocessing as pp
from tfx_transfer.trainer.data import records

STEP_EXAMPLE_GEN = "ImageFolderExampleGen"
STEP_EXTRACTOR = "BottleneckExtractor"
# At most this many entries are listed; the artifacts named in `more_in` hold the rest.
MAX_LISTED = 1000
ID_FEATURE = "id"


def _first_value(example, name: str) -> str:
    feature = example.features.feature.get(name)
    values = feature.bytes_list.value if feature is not None else []
    return values[0].decode("utf-8", "replace") if values else ""


def extractor_rejections(rejected: types.Artifact, limit: int = MAX_LISTED) -> List[Dict[str, str]]:
    """(split, id, reason) of the first `limit` examples in a BottleneckExtractor `rejected` artifact;
    an example without an id is named by its position in the split."""
    found: List[Dict[str, str]] = []
    for split in artifact_utils.decode_split_names(rejected.split_names):
        files = tf.io.gfile.glob(io_utils.all_files_pattern(artifact_utils.get_split_uri([rejected], split)))
        if not files:
            continue
        for position, serialized in enumerate(records.record_dataset(sorted(files)).as_numpy_iterator()):
            if len(found) >= limit:
                return found
            example = records.parse_example(serialized)
            example_id = (_first_value(example, ID_FEATURE) if example is not None else "") or f"{split} record {position}"
            reason = _first_value(example, pp.REASON_FEATURE) if example is not None else records.REASON_UNPARSEABLE
            found.append({"step": STEP_EXTRACTOR, "split": split, "id": example_id, "reason": reason})
    return found


def examples_artifact(record: Any) -> Optional[types.Artifact]:
    """A TFX `Examples` artifact of an MLMD artifact record (as the run summary reads them); None stays None."""
    if record is None:
        return None
    artifact = standard_artifacts.Examples()
    artifact.set_mlmd_artifact(record)
    return artifact


def rejected_count(rejected: Optional[types.Artifact]) -> int:
    """The BottleneckExtractor's own count of the examples it rejected, over all splits (its
    `split_counts` property; 0 when it has none)."""
    encoded = rejected.get_string_custom_property(specs.SPLIT_COUNTS_PROPERTY) if rejected is not None else ""
    return sum(count.get("examples_rejected", 0) for count in json.loads(encoded).values()) if encoded else 0


def collect(source_examples: Optional[types.Artifact], rejected: Optional[types.Artifact]) -> Dict[str, Any]:
    """{'total', 'files': [{step, split, id, reason}] (at most MAX_LISTED), 'ignored', 'more_in'}.

    The total counts the extractor's rejections from its own counters (`rejected_count`), so it is
    right even when the listing stops at MAX_LISTED.
    """
    report = report_lib.read_report(source_examples.uri) if source_examples is not None else None
    files = [
        {"step": STEP_EXAMPLE_GEN, "split": f["split"], "id": f["id"], "reason": f["reason"]}
        for f in (report or {}).get("files", [])
    ]
    extracted = extractor_rejections(rejected, MAX_LISTED) if rejected is not None else []
    total = len(files) + max(rejected_count(rejected), len(extracted))
    listed = (files + extracted)[:MAX_LISTED]
    holders = [report_lib.report_path(source_examples.uri) if report else "", rejected.uri if rejected is not None else ""]
    return {
        "total": total,
        "files": listed,
        "ignored": ((report or {}).get("ignored") or {}).get("total", 0),
        "more_in": [holder for holder in holders if holder] if total > len(listed) else [],
    }
