"""The container entrypoint of every step on open-source Kubeflow Pipelines 2.x.

`python -m tfx_transfer.pipeline.kubeflow.entrypoint` takes the arguments of TFX's entrypoint
(`tfx.orchestration.kubeflow.v2.container.kubeflow_v2_run_executor`), adapts what the OSS
driver and launcher send and expect to what TFX 1.16 reads and writes, and runs TFX's own
entrypoint in between. TFX's files are not patched. What it adapts (KFP backend 2.x sources:
`backend/src/v2/driver`, `backend/src/v2/component/launcher_v2.go`, `backend/src/v2/metadata`):

1. Input artifacts arrive without a usable type: the driver resolves them from MLMD with an
   empty `instanceSchema` (or no `type` at all for DAG inputs), on which TFX's artifact parser
   fails. Their type is taken from the component's input definitions, which the compiled
   command passes as `--json_serialized_inputs_spec_args`.
2. Types TFX cannot map to a class: TFX reads a custom type's schema title as the import path
   of its class, but our HTML report's type is `system.HTML` (what the KFP UI renders), so such
   titles are mapped to our classes (`CUSTOM_TYPES`). The launcher also adds outputs of its own
   (`executor-logs`, `system.Artifact`) that no class stands for: they are hidden from TFX, and
   the launcher, which merges back only the outputs the executor reports, keeps them as they were.
3. The launcher refuses `null` artifact metadata, which TFX writes for unset properties; those
   keys are dropped from the executor output.
4. TF's GCS filesystem leaves zero-byte `dir/` marker objects; the launcher downloads them as
   files and then cannot create the directory below them (kubeflow/pipelines#13476). They are
   deleted from the step's `gs://` outputs.
5. `s3://` (MinIO) needs tensorflow-io's S3 filesystem, imported here; that filesystem aborts
   the process while Python shuts down ("pure virtual method called", exit 134), so the
   entrypoint flushes and leaves with `os._exit`, after the executor output is written.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import traceback
from typing import Any, Callable, Dict, Iterable, List, Optional, Tuple

import yaml
from google.protobuf import json_format
from kfp.pipeline_spec import pipeline_spec_pb2

from tfx_transfer.components.specs import HtmlReport

# Schema titles of our artifact types that are not import paths, and the classes they stand for.
CUSTOM_TYPES = {HtmlReport.TYPE_NAME: f"{HtmlReport.__module__}.{HtmlReport.__qualname__}"}
_TFX_TITLE_PREFIX = "tfx."


def _title(artifact_type: pipeline_spec_pb2.ArtifactTypeSchema) -> str:
    """The schema title of a type, '' when it has none (an empty or missing schema)."""
    kind = artifact_type.WhichOneof("kind")
    if kind == "schema_title":
        return artifact_type.schema_title
    if kind == "instance_schema" and artifact_type.instance_schema.strip():
        data = yaml.safe_load(artifact_type.instance_schema)
        return str(data.get("title", "")) if isinstance(data, dict) else ""
    return ""


def _tfx_readable(artifact: pipeline_spec_pb2.RuntimeArtifact) -> bool:
    """Gives the artifact a type TFX resolves to a class; False when there is none."""
    title = _title(artifact.type)
    if title in CUSTOM_TYPES:
        artifact.type.instance_schema = f"title: {CUSTOM_TYPES[title]}\ntype: object\n"
        return True
    return title.startswith(_TFX_TITLE_PREFIX)


def normalise_executor_input(executor_input_json: str, inputs_spec_json: Optional[str]) -> Tuple[str, List[str]]:
    """The ExecutorInput TFX 1.16 can parse, and the output keys hidden from it.

    Raises ValueError naming an input artifact whose type neither the launcher nor the inputs
    spec gives a class for.
    """
    executor_input = pipeline_spec_pb2.ExecutorInput()
    json_format.Parse(executor_input_json, executor_input, ignore_unknown_fields=True)
    inputs_spec = pipeline_spec_pb2.ComponentInputsSpec()
    if inputs_spec_json:
        json_format.Parse(inputs_spec_json, inputs_spec, ignore_unknown_fields=True)
    for key, artifact_list in executor_input.inputs.artifacts.items():
        for artifact in artifact_list.artifacts:
            if not _title(artifact.type) and key in inputs_spec.artifacts:
                artifact.type.CopyFrom(inputs_spec.artifacts[key].artifact_type)
            if not _tfx_readable(artifact):
                raise ValueError(
                    f"Input artifact {key!r} ({artifact.uri}) has type {_title(artifact.type) or 'none'!r}, "
                    f"which no TFX class stands for; the component's input definitions name "
                    f"{sorted(inputs_spec.artifacts)}."
                )
    hidden = sorted(
        key for key, artifacts in executor_input.outputs.artifacts.items()
        if not all([_tfx_readable(artifact) for artifact in artifacts.artifacts])
    )
    for key in hidden:
        del executor_input.outputs.artifacts[key]
    return json_format.MessageToJson(executor_input), hidden


def artifact_uris(executor_input_json: str, side: str) -> List[str]:
    """The URIs of the `inputs` or `outputs` artifacts of an ExecutorInput JSON."""
    data = json.loads(executor_input_json).get(side, {}).get("artifacts", {})
    return [a.get("uri", "") for artifacts in data.values() for a in artifacts.get("artifacts", [])]


def drop_null_metadata(output: Dict[str, Any]) -> Dict[str, Any]:
    """The ExecutorOutput dict without `null` artifact metadata values (the launcher refuses them)."""
    for artifact_list in output.get("artifacts", {}).values():
        for artifact in artifact_list.get("artifacts", []):
            metadata = artifact.get("metadata")
            if isinstance(metadata, dict):
                artifact["metadata"] = {k: v for k, v in metadata.items() if v is not None}
    return output


def remove_directory_markers(uris: Iterable[str], client_factory: Optional[Callable[[], Any]] = None) -> List[str]:
    """Deletes zero-byte `.../` marker objects below the `gs://` URIs; returns what it deleted."""
    gcs = [uri for uri in uris if uri.startswith("gs://")]
    if not gcs:
        return []
    if client_factory is None:
        from google.cloud import storage  # installed with apache-beam[gcp]

        client_factory = storage.Client
    client = client_factory()
    deleted = []
    for uri in gcs:
        bucket, _, prefix = uri[len("gs://"):].partition("/")
        for blob in client.list_blobs(bucket, prefix=prefix.rstrip("/") + "/"):
            if blob.name.endswith("/") and not blob.size:
                blob.delete()
                deleted.append(f"gs://{bucket}/{blob.name}")
    return deleted


def _import_s3_filesystem(uris: Iterable[str]) -> None:
    if any(uri.startswith("s3://") for uri in uris):
        try:
            import tensorflow_io  # noqa: F401  (registers the s3:// filesystem with tf.io.gfile)
        except ImportError:
            raise ValueError(
                "This step reads or writes s3:// paths, which need tensorflow-io's S3 filesystem; "
                "install tensorflow-io==0.37.1 in the image (the Dockerfile does)."
            ) from None


def _parse_args(argv: List[str]) -> Tuple[argparse.Namespace, List[str]]:
    """The flags of TFX's entrypoint; everything else is Beam args, as there."""
    parser = argparse.ArgumentParser(prog="tfx_transfer.pipeline.kubeflow.entrypoint")
    parser.add_argument("--executor_class_path", required=True)
    parser.add_argument("--json_serialized_invocation_args", required=True)
    parser.add_argument("--json_serialized_inputs_spec_args", default=None)
    return parser.parse_known_args(argv)


def _rewrite_output(path: str) -> None:
    import tensorflow as tf

    if not tf.io.gfile.exists(path):
        return
    with tf.io.gfile.GFile(path) as f:
        output = json.load(f)
    with tf.io.gfile.GFile(path, "w") as f:
        json.dump(drop_null_metadata(output), f)


def run(argv: List[str]) -> None:
    """Adapts the launcher's input, runs TFX's entrypoint, and adapts what it wrote."""
    from tfx.orchestration.kubeflow.v2.container import kubeflow_v2_run_executor

    args, beam_args = _parse_args(argv)
    normalised, hidden = normalise_executor_input(args.json_serialized_invocation_args, args.json_serialized_inputs_spec_args)
    if hidden:
        logging.info("Outputs of the launcher's own, not passed to the TFX executor: %s", hidden)
    _import_s3_filesystem(artifact_uris(normalised, "inputs") + artifact_uris(normalised, "outputs"))
    args.json_serialized_invocation_args = normalised
    kubeflow_v2_run_executor.main((args, beam_args))
    output_file = json.loads(normalised).get("outputs", {}).get("outputFile", "")
    if output_file:
        _rewrite_output(output_file)
    deleted = remove_directory_markers(artifact_uris(normalised, "outputs"))
    if deleted:
        logging.info("Deleted %d GCS directory markers: %s", len(deleted), deleted[:10])


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    code = 0
    try:
        run(sys.argv[1:])
    except Exception:  # pylint: disable=broad-except  # the step fails with the traceback in its log
        traceback.print_exc()
        code = 1
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)  # see point 5 of the module docstring


if __name__ == "__main__":
    main()
