"""Beam transforms that turn a folder of image files into tf.Examples.

Pure Beam: no TFX artifacts here, so the transforms run and test on any runner. Files are
found with Beam's `fileio.MatchFiles` and read with `fileio.ReadMatches`, so local paths and
`gs://` behave the same and the listing happens on the workers, not in the launcher.

`ReadImageFolder` reads labelled files (`[<split>/]<label>/<file>`), `ReadUnlabelledFolder`
every file at any depth below a folder, without labels. Every matched file ends in exactly one
of three outputs: `examples` (a tf.Example with the image bytes, its label if labelled, and its
id), `rejected` (a dict naming the file and why it is not a usable image) or `ignored`
(operating-system metadata such as `.DS_Store`, AppleDouble `._*` files, `__MACOSX/`,
`Thumbs.db`: not the user's data, so never read and never a reason to stop a run). Beam counters record files, examples, rejected and ignored files per split and reason,
and `WriteRejectedReport` writes the rejected and ignored files as one JSON report.
"""

from __future__ import annotations

import functools
import json
import logging
import re
from typing import Any, Callable, Dict, Iterator, List, Optional, Sequence

import apache_beam as beam
import tensorflow as tf
from apache_beam.io import fileio
from apache_beam.io.filesystem import CompressionTypes
from apache_beam.metrics import Metrics

from tfx_transfer.components.beam_metrics import counter_name
from tfx_transfer.trainer.data import preprocessing as pp

METRICS_NAMESPACE = "tfx_transfer.ImageFolderExampleGen"

# Features of every example written: the data contract with the downstream components.
IMAGE_FEATURE = "image"
LABEL_FEATURE = "label"
ID_FEATURE = "id"

# Keys of a rejected-file record (and of the report's "files" entries).
REJECTED_ID = "id"
REJECTED_PATH = "path"
REJECTED_SPLIT = "split"
REJECTED_REASON = "reason"

EXAMPLES_OUTPUT = "examples"
REJECTED_OUTPUT = "rejected"
IGNORED_OUTPUT = "ignored"

# Beam's glob for every file at any depth below a folder (`*` stops at '/'): the input pattern
# of the unlabelled layout.
ANY_DEPTH_PATTERN = "**"

_PATH_SEPARATORS = re.compile(r"[/\\]+")
# Names operating systems and zip tools leave in folders (compared in lower case); hidden names
# (dot-files, AppleDouble `._*`) are metadata too.
OS_METADATA_NAMES = frozenset({"__macosx", "thumbs.db", "ehthumbs.db", "desktop.ini"})


def is_os_metadata(relative_path: str) -> bool:
    """Whether a path below input_base is operating-system metadata: any of its components is
    hidden (starts with '.') or one of OS_METADATA_NAMES."""
    return any(
        part.startswith(".") or part.lower() in OS_METADATA_NAMES for part in _PATH_SEPARATORS.split(relative_path) if part
    )


def relative_id(path: str, depth: int) -> str:
    """The last `depth` components of `path`, '/'-joined: the file's path below input_base.

    Taking components from the end (the depth of the glob pattern) rather than stripping a
    prefix makes the id independent of how the runner spells the path (absolute, relative,
    `gs://`), so a file keeps its id, and therefore its split, wherever the folder lives.
    """
    parts = [part for part in _PATH_SEPARATORS.split(path) if part]
    if len(parts) < depth:
        raise ValueError(f"Path {path!r} has fewer than {depth} components.")
    return "/".join(parts[-depth:])


def id_below(path: str, base: str) -> str:
    """`path` below `base`, '/'-joined: the id of a file matched by `<base>/**` (any depth).

    Beam matches the whole path against the pattern, so a matched path starts with `base`
    spelt as in the pattern, and stripping it is exact.
    """
    prefix = base.rstrip("/\\")
    rest = path[len(prefix):]
    if not path.startswith(prefix) or rest[:1] not in ("/", "\\"):
        raise ValueError(f"Path {path!r} is not below {base!r}.")
    return "/".join(part for part in _PATH_SEPARATORS.split(rest) if part)


def make_example(image: bytes, label: Optional[str], example_id: str) -> tf.train.Example:
    """An example of `image`; a `label` of None (unlabelled layout) writes no label feature."""
    example = tf.train.Example()
    features = example.features.feature
    features[IMAGE_FEATURE].bytes_list.value.append(image)
    if label is not None:
        features[LABEL_FEATURE].bytes_list.value.append(label.encode("utf-8"))
    features[ID_FEATURE].bytes_list.value.append(example_id.encode("utf-8"))
    return example


class _FileToExampleFn(beam.DoFn):
    """Reads one matched file; an image becomes a tf.Example, anything else a rejected record.

    `id_of(path)` is the file's id, its path below input_base. `split_of(id)` names the output
    split the file belongs to; it is used for the counters and the rejected records only (the
    split itself is made by the ExampleGen). A labelled file's label is the folder it sits in.
    """

    def __init__(self, id_of: Callable[[str], str], split_of: Callable[[str], str], labelled: bool = True):
        self._id_of = id_of
        self._split_of = split_of
        self._labelled = labelled

    @staticmethod
    def _inc(kind: str, split: str) -> None:
        Metrics.counter(METRICS_NAMESPACE, counter_name(kind, split)).inc()

    def process(self, readable_file: fileio.ReadableFile) -> Iterator[Any]:
        path = readable_file.metadata.path
        example_id = self._id_of(path)
        label = example_id.split("/")[-2] if self._labelled else None
        split = self._split_of(example_id)
        self._inc("files", split)
        if is_os_metadata(example_id):
            self._inc("ignored", split)
            yield beam.pvalue.TaggedOutput(IGNORED_OUTPUT, {REJECTED_ID: example_id, REJECTED_PATH: path, REJECTED_SPLIT: split})
            return
        with readable_file.open(mime_type="application/octet-stream") as handle:
            head = handle.read(pp.IMAGE_HEADER_BYTES)
            # Only images are read whole; a stray video or archive costs just its header.
            data = head + handle.read() if pp.image_format(head) else head
        reason = pp.inspect_image_bytes(data, max_image_pixels=0)
        if reason is None:
            self._inc("examples", split)
            yield make_example(data, label, example_id)
            return
        self._inc("rejected", split)
        self._inc(f"rejected_{reason}", split)
        logging.warning(
            "ImageFolderExampleGen: %s is not a usable image (%s); it is not written to the "
            "examples and is listed in the rejected-files report.",
            path,
            reason,
        )
        yield beam.pvalue.TaggedOutput(
            REJECTED_OUTPUT,
            {REJECTED_ID: example_id, REJECTED_PATH: path, REJECTED_SPLIT: split, REJECTED_REASON: reason},
        )


def _read_files(
    pipeline: beam.Pipeline, file_pattern: str, to_example: _FileToExampleFn
) -> Dict[str, beam.PCollection]:
    """Files matching `file_pattern`, each read by `to_example`, to its three outputs. A pattern
    that matches nothing fails."""
    files = (
        pipeline
        | "MatchFiles" >> fileio.MatchFiles(file_pattern, fileio.EmptyMatchTreatment.DISALLOW)
        | "ReadMatches" >> fileio.ReadMatches(compression=CompressionTypes.UNCOMPRESSED)
    )
    outputs = files | "FilesToExamples" >> beam.ParDo(to_example).with_outputs(
        REJECTED_OUTPUT, IGNORED_OUTPUT, main=EXAMPLES_OUTPUT
    )
    return {name: outputs[name] for name in (EXAMPLES_OUTPUT, REJECTED_OUTPUT, IGNORED_OUTPUT)}


@beam.ptransform_fn
@beam.typehints.with_input_types(beam.Pipeline)
def ReadImageFolder(  # pylint: disable=invalid-name
    pipeline: beam.Pipeline, file_pattern: str, depth: int, split_of: Callable[[str], str]
) -> Dict[str, beam.PCollection]:
    """Files matching `file_pattern` to {'examples': tf.Examples, 'rejected': dicts, 'ignored': dicts}.

    `depth` is the number of path components of the pattern below input_base (2 for
    `<label>/<file>`, 3 for `<split>/<label>/<file>`): the file's id is its last `depth`
    components and its label the folder it sits in. A pattern that matches nothing fails.
    """
    to_example = _FileToExampleFn(functools.partial(relative_id, depth=depth), split_of)
    return _read_files(pipeline, file_pattern, to_example)


@beam.ptransform_fn
@beam.typehints.with_input_types(beam.Pipeline)
def ReadUnlabelledFolder(  # pylint: disable=invalid-name
    pipeline: beam.Pipeline, input_base: str, split_of: Callable[[str], str]
) -> Dict[str, beam.PCollection]:
    """Every file at any depth below `input_base` to the outputs of `ReadImageFolder`.

    The id is the file's path below input_base; the examples have no label (folder names are
    ignored). A folder without files fails.
    """
    base = input_base.rstrip("/")
    to_example = _FileToExampleFn(functools.partial(id_below, base=base), split_of, labelled=False)
    return _read_files(pipeline, f"{base}/{ANY_DEPTH_PATTERN}", to_example)


def _sorted(records: List[Dict[str, str]]) -> List[Dict[str, str]]:
    return sorted(records, key=lambda record: (record[REJECTED_ID], record[REJECTED_PATH]))


def render_report(tagged: List[Any], splits: Sequence[str]) -> str:
    """The rejected-files report from (output, record) pairs: rejected counts per split and
    reason, every rejected file, then the ignored metadata files, each sorted by id."""
    rejected = [record for output, record in tagged if output == REJECTED_OUTPUT]
    ignored = [record for output, record in tagged if output == IGNORED_OUTPUT]
    counts: Dict[str, Dict[str, int]] = {split: {} for split in splits}
    for record in rejected:
        per_split = counts.setdefault(record[REJECTED_SPLIT], {})
        per_split[record[REJECTED_REASON]] = per_split.get(record[REJECTED_REASON], 0) + 1
    return json.dumps(
        {"total": len(rejected), "counts": counts, "files": _sorted(rejected),
         "ignored": {"total": len(ignored), "files": _sorted(ignored)}},
        indent=1, sort_keys=True,
    )


@beam.ptransform_fn
def WriteRejectedReport(  # pylint: disable=invalid-name
    outputs: Dict[str, beam.PCollection], path: str, splits: Sequence[str]
) -> beam.pvalue.PDone:
    """Writes the `rejected` and `ignored` records of `outputs` as one JSON document at exactly `path`."""
    tagged = [
        outputs[name] | f"Tag{name.capitalize()}" >> beam.Map(lambda record, name=name: (name, record))
        for name in (REJECTED_OUTPUT, IGNORED_OUTPUT)
    ]
    return (
        tagged
        | "FlattenSetAside" >> beam.Flatten()
        | "CollectSetAside" >> beam.combiners.ToList()
        | "RenderReport" >> beam.Map(render_report, list(splits))
        | "WriteReport"
        >> beam.io.WriteToText(path, shard_name_template="", num_shards=1, append_trailing_newlines=True)
    )
