"""The container entrypoint under the open-source KFP launcher's contract.

The subprocess test compiles a pipeline for `--target kubeflow`, takes the BottleneckExtractor's
and FineTuner's compiled container commands as they are, replaces `{{$}}` with an ExecutorInput
shaped like the one KFP 2.x's driver/launcher sends (input artifacts resolved from MLMD with an
empty type, MLMD ids as names, metadata with `display_name` / `store_session_info`, only
`parameterValues`, the launcher's own `executor-logs` output), and runs them on local files,
with no MLMD anywhere.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import yaml
from tfx import v1 as tfx

from testdata import class_examples, examples_artifact, read_examples
from tfx_transfer.components import BottleneckExtractor, FineTuner, ImageFolderExampleGen
from tfx_transfer.pipeline.kubeflow import entrypoint as kfp_entrypoint, resources as kfp_resources
from tfx_transfer.pipeline.kubeflow import runner as runner

EXAMPLES_SCHEMA = "title: tfx.Examples\ntype: object\n"
MODEL_SCHEMA = "title: tfx.Model\ntype: object\n"
LOGS = {"artifacts": [{"name": "executor-logs", "uri": "gs://b/logs", "type": {"schemaTitle": "system.Artifact"}}]}


def _launcher_input(inputs, outputs, parameters, output_file):
    return {
        "inputs": {"parameterValues": parameters, "artifacts": inputs},
        "outputs": {"artifacts": {**outputs, "executor-logs": LOGS}, "outputFile": output_file},
    }


def _spec(**artifacts):
    return json.dumps({"artifacts": {k: {"artifactType": {"instanceSchema": v}} for k, v in artifacts.items()}})


def test_untyped_inputs_get_their_type_and_the_launchers_outputs_are_hidden():
    executor_input = _launcher_input(
        inputs={
            "examples": {"artifacts": [{"name": "17", "uri": "gs://b/e", "type": {"instanceSchema": ""}}]},
            "base_model": {"artifacts": [{"name": "18", "uri": "gs://b/m"}]},  # a DAG input: no type at all
        },
        outputs={
            "model": {"artifacts": [{"name": "model", "uri": "gs://b/o", "type": {"instanceSchema": MODEL_SCHEMA}}]},
            "report": {"artifacts": [{"name": "report", "uri": "gs://b/r", "type": {"instanceSchema": "title: system.HTML\ntype: object\n"}}]},
        },
        parameters={"config": "{}"},
        output_file="/gcs/b/task/output_metadata.json",
    )
    normalised, hidden = kfp_entrypoint.normalise_executor_input(
        json.dumps(executor_input), _spec(examples=EXAMPLES_SCHEMA, base_model=MODEL_SCHEMA)
    )
    result = json.loads(normalised)
    assert hidden == ["executor-logs"]
    assert set(result["outputs"]["artifacts"]) == {"model", "report"}
    inputs = result["inputs"]["artifacts"]
    assert inputs["examples"]["artifacts"][0]["type"] == {"instanceSchema": EXAMPLES_SCHEMA}
    assert inputs["base_model"]["artifacts"][0]["type"] == {"instanceSchema": MODEL_SCHEMA}
    report_type = result["outputs"]["artifacts"]["report"]["artifacts"][0]["type"]["instanceSchema"]
    assert report_type.startswith("title: tfx_transfer.components.specs.HtmlReport\n")
    assert result["outputs"]["outputFile"] == "/gcs/b/task/output_metadata.json"

    # What TFX's own parser makes of it: classes, not errors.
    from google.protobuf import json_format
    from kfp.pipeline_spec import pipeline_spec_pb2
    from tfx.orchestration.kubeflow.v2.container import kubeflow_v2_entrypoint_utils as entrypoint_utils

    parsed = json_format.Parse(normalised, pipeline_spec_pb2.ExecutorInput())
    outputs = entrypoint_utils.parse_raw_artifact_dict(parsed.outputs.artifacts, {})
    assert {k: type(v[0]).__name__ for k, v in outputs.items()} == {"model": "Model", "report": "HtmlReport"}
    inputs = entrypoint_utils.parse_raw_artifact_dict(parsed.inputs.artifacts, {})
    assert {k: type(v[0]).__name__ for k, v in inputs.items()} == {"examples": "Examples", "base_model": "Model"}
    # ... where the launcher's input as sent makes TFX fail.
    sent = json_format.Parse(json.dumps(executor_input), pipeline_spec_pb2.ExecutorInput())
    for artifacts in (sent.inputs.artifacts, sent.outputs.artifacts):
        with pytest.raises((AttributeError, ImportError, UnboundLocalError)):
            entrypoint_utils.parse_raw_artifact_dict(artifacts, {})


def test_an_input_without_any_known_type_is_named():
    executor_input = _launcher_input({"stats": {"artifacts": [{"name": "3", "uri": "gs://b/s"}]}}, {}, {}, "/tmp/o.json")
    with pytest.raises(ValueError, match=r"Input artifact 'stats' \(gs://b/s\) has type 'none'.*name \['examples'\]"):
        kfp_entrypoint.normalise_executor_input(json.dumps(executor_input), _spec(examples=EXAMPLES_SCHEMA))


def test_null_metadata_is_dropped():
    output = {"artifacts": {"model": {"artifacts": [{"uri": "u", "metadata": {"span": None, "name": "m", "n": 0}}]}}}
    assert kfp_entrypoint.drop_null_metadata(output)["artifacts"]["model"]["artifacts"][0]["metadata"] == {"name": "m", "n": 0}


class _Blob:
    def __init__(self, name, size, deleted):
        self.name, self.size, self._deleted = name, size, deleted

    def delete(self):
        self._deleted.append(self.name)


def test_gcs_directory_markers_are_deleted_below_the_outputs():
    deleted = []
    listed = []
    blobs = {
        "root/task/model/": [
            _Blob("root/task/model/", 0, deleted),
            _Blob("root/task/model/Format-Serving/", 0, deleted),
            _Blob("root/task/model/Format-Serving/saved_model.pb", 120, deleted),
            _Blob("root/task/model/empty_but_a_file", 0, deleted),
        ]
    }

    class _Client:
        def list_blobs(self, bucket, prefix):
            listed.append((bucket, prefix))
            return blobs.get(prefix, [])

    removed = kfp_entrypoint.remove_directory_markers(["gs://bkt/root/task/model", "/local/x", "s3://b/y"], _Client)
    assert listed == [("bkt", "root/task/model/")]
    assert deleted == ["root/task/model/", "root/task/model/Format-Serving/"]
    assert removed == ["gs://bkt/root/task/model/", "gs://bkt/root/task/model/Format-Serving/"]
    assert kfp_entrypoint.remove_directory_markers(["/local/only"], _Client) == []


# --------------------------------------------------------------------- the compiled steps, run


def _compiled(tmp_path, image_folder, tiny_cnn_path):
    example_gen = ImageFolderExampleGen(input_base=image_folder)
    extractor = BottleneckExtractor(examples=example_gen.outputs["examples"], model_uri=tiny_cnn_path, cut_layer="flatten_1", batch_size=4)
    fine_tuner = FineTuner(
        bottlenecks=extractor.outputs["bottlenecks"], feature_extractor=extractor.outputs["feature_extractor"],
        epochs=2, batch_size=4,
    )
    pipeline = tfx.dsl.Pipeline(
        pipeline_name="entrypoint", pipeline_root="gs://bucket/root", components=[example_gen, extractor, fine_tuner]
    )
    path = str(tmp_path / "pipeline.yaml")
    runner.compile_pipeline(pipeline, path, "image:1", kfp_resources.ResourceConfig(gpus=0), ("BottleneckExtractor", "FineTuner"))
    with open(path) as f:
        return yaml.safe_load(f)


def _step(spec, component):
    """(command + args with the {{$}} placeholder, constant parameter values) of a compiled step."""
    task = spec["root"]["dag"]["tasks"][component]
    label = spec["components"][task["componentRef"]["name"]]["executorLabel"]
    container = spec["deploymentSpec"]["executors"][label]["container"]
    parameters = {name: p["runtimeValue"]["constant"] for name, p in task["inputs"]["parameters"].items()}
    outputs = spec["components"][task["componentRef"]["name"]]["outputDefinitions"]["artifacts"]
    return container["command"] + container["args"], parameters, outputs


def _run_step(argv, executor_input):
    replaced = [json.dumps(executor_input) if arg == "{{$}}" else arg for arg in argv]
    assert replaced[:3] == ["python", "-m", "tfx_transfer.pipeline.kubeflow.entrypoint"]
    result = subprocess.run(
        [sys.executable] + replaced[1:], capture_output=True, text=True, timeout=600,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
    )
    assert result.returncode == 0, result.stderr[-4000:]
    return result


def _outputs(definitions, root, skip=()):
    return {
        key: {"artifacts": [{"name": key, "uri": os.path.join(root, key), "type": d["artifactType"]}]}
        for key, d in definitions.items() if key not in skip
    }


def _as_resolved_input(output_metadata, key, mlmd_id):
    """An upstream output as the driver resolves it from MLMD: no type, metadata flattened."""
    artifact = output_metadata["artifacts"][key]["artifacts"][0]
    metadata = {**artifact.get("metadata", {}), "display_name": key, "store_session_info": '{"Provider":"gs"}'}
    return {"artifacts": [{"name": str(mlmd_id), "uri": artifact["uri"], "type": {"instanceSchema": ""}, "metadata": metadata}]}


@pytest.mark.slow
def test_extractor_and_fine_tuner_run_through_the_compiled_entrypoint(tmp_path, image_folder, tiny_cnn_path):
    spec = _compiled(tmp_path, image_folder, tiny_cnn_path)
    raw = examples_artifact(str(tmp_path / "raw"), {"train": class_examples(12), "eval": class_examples(6, seed=50)})

    argv, parameters, outputs = _step(spec, "BottleneckExtractor")
    examples_input = {"artifacts": [{
        "name": "17", "uri": raw.uri, "type": {"instanceSchema": ""},
        "metadata": {"split_names": '["train", "eval"]', "span": 0, "payload_format": "FORMAT_TF_EXAMPLE",
                     "display_name": "examples", "store_session_info": '{"Provider":"gs"}'},
    }]}
    extractor_file = str(tmp_path / "extractor_task" / "output_metadata.json")
    _run_step(argv, _launcher_input({"examples": examples_input}, _outputs(outputs, str(tmp_path / "extractor")), parameters, extractor_file))
    with open(extractor_file) as f:
        extractor_output = json.load(f)
    assert set(extractor_output["artifacts"]) == {"bottlenecks", "feature_extractor", "rejected"}  # not executor-logs
    bottlenecks = extractor_output["artifacts"]["bottlenecks"]["artifacts"][0]
    assert json.loads(bottlenecks["metadata"]["split_counts"])["train"]["examples_out"] == 12
    assert len(read_examples(os.path.join(bottlenecks["uri"], "Split-train"))) == 12
    assert all(v is not None for a in extractor_output["artifacts"].values() for v in a["artifacts"][0].get("metadata", {}).values())

    argv, parameters, outputs = _step(spec, "FineTuner")
    inputs = {
        "bottlenecks": _as_resolved_input(extractor_output, "bottlenecks", 21),
        "feature_extractor": _as_resolved_input(extractor_output, "feature_extractor", 22),
    }
    tuner_file = str(tmp_path / "tuner_task" / "output_metadata.json")
    _run_step(argv, _launcher_input(inputs, _outputs(outputs, str(tmp_path / "tuner")), parameters, tuner_file))
    with open(tuner_file) as f:
        tuner_output = json.load(f)
    model = tuner_output["artifacts"]["model"]["artifacts"][0]
    assert model["metadata"]["strategy"] == "feature_extraction"
    assert json.loads(model["metadata"]["class_names"]) == ["cat", "dog", "fox"]
    assert os.path.exists(os.path.join(model["uri"], "Format-Serving", "saved_model.pb"))
