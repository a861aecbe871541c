"""`tfx-transfer compile` of the whole pipeline, checked in the KFP v2 PipelineSpec proto."""

from __future__ import annotations

import json
import os

import pytest

from google.protobuf import json_format

from testdata import executors, load_pipeline_spec
from tfx_transfer.pipeline import cli
from tfx_transfer.pipeline.kubeflow import compat as kfp_compat

HEAVY = {"BottleneckExtractor", "FineTuner"}


def _compile(tmp_path, image_folder, base, *extra, output="pipeline.yaml"):
    output = str(tmp_path / output)
    code = cli.main([
        "compile", "--data-root", image_folder, "--base-model", base, "--cut-layer", "flatten_1",
        "--pipeline-root", "gs://bucket/root", "--output", output, "--image", "example.com/tfx-transfer:1.2",
        "--beam-arg=--runner=DataflowRunner", "--beam-arg=--region=europe-west4", *extra,
    ])
    assert code == 0
    return output


def _executors(spec):
    """Component id -> container spec, for the steps that run a container."""
    return {cid: executor.container for cid, executor in executors(spec).items() if executor.HasField("container")}


def test_open_source_kfp_conformance(tmp_path, image_folder, tiny_cnn_path):
    path = _compile(
        tmp_path, image_folder, tiny_cnn_path, "--gpus", "2", "--memory", "32G",
        "--gpu-node-selector", "cloud.google.com/gke-accelerator=nvidia-tesla-t4",
        "--gpu-toleration", "nvidia.com/gpu:NoSchedule", "--gpu-toleration", "dedicated=ml:NoExecute",
    )
    doc = kfp_compat.load_yaml_package(path)  # exactly as kfp 2.5's Client reads a package
    spec = doc.pipeline_spec
    assert spec.schema_version == "2.1.0"
    assert spec.default_pipeline_root == "gs://bucket/root"
    deployment = json_format.MessageToDict(spec.deployment_spec)["executors"]
    assert all("resolver" not in executor and "importer" not in executor for executor in deployment.values())
    labels = {cid: spec.components[task.component_ref.name].executor_label for cid, task in spec.root.dag.tasks.items()}
    with_gpu = {cid for cid, label in labels.items() if "accelerator" in deployment[label]["container"].get("resources", {})}
    assert with_gpu == HEAVY
    for cid in HEAVY:
        accelerator = deployment[labels[cid]]["container"]["resources"]["accelerator"]
        assert accelerator == {"type": "nvidia.com/gpu", "count": "2", "resourceType": "nvidia.com/gpu", "resourceCount": "2"}
    platform = json_format.MessageToDict(doc.platform_spec)["platforms"]["kubernetes"]["deploymentSpec"]["executors"]
    assert set(platform) == {labels[cid] for cid in HEAVY}
    for config in platform.values():
        assert config["nodeSelector"] == {"labels": {"cloud.google.com/gke-accelerator": "nvidia-tesla-t4"}}
        assert config["tolerations"] == [
            {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"},
            {"key": "dedicated", "operator": "Equal", "value": "ml", "effect": "NoExecute"},
        ]
    # The ExampleGen reads the folder on every run (its fingerprinting hook does not run on OSS KFP).
    caching = {cid: task.caching_options.enable_cache for cid, task in spec.root.dag.tasks.items()}
    assert [cid for cid, enabled in caching.items() if not enabled] == ["ImageFolderExampleGen"]
    containers = _executors(spec)
    assert {c.image for c in containers.values()} == {"example.com/tfx-transfer:1.2"}
    assert {"PushedBaseline", "FineTuner", "Evaluator", "Pusher", "Transform", "EvaluationReport"} <= set(containers)
    for beam_component in ("BottleneckExtractor", "Transform", "StatisticsGen"):
        args = list(containers[beam_component].args)
        assert "--runner=DataflowRunner" in args and "--region=europe-west4" in args, beam_component


def test_vertex_target_keeps_vertex_names(tmp_path, image_folder, tiny_cnn_path):
    path = _compile(tmp_path, image_folder, tiny_cnn_path, "--target", "vertex", "--gpu-type", "NVIDIA_TESLA_A100",
                    output="pipeline.json")
    containers = _executors(load_pipeline_spec(path))
    with_gpu = {name for name, c in containers.items() if c.resources.accelerator.count}
    assert with_gpu == HEAVY
    assert {containers[name].resources.accelerator.type for name in HEAVY} == {"NVIDIA_TESLA_A100"}


def test_cpu_only_compiles_without_accelerators(tmp_path, image_folder, tiny_cnn_path):
    spec = load_pipeline_spec(_compile(tmp_path, image_folder, tiny_cnn_path, "--gpus", "0"))
    assert not any(c.resources.accelerator.count for c in _executors(spec).values())


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--gpu-type", "NVIDIA_TESLA_T4"], "Unknown gpu_type 'NVIDIA_TESLA_T4' for target 'kubeflow'"),
        (["--pipeline-root", "minio://mlpipeline/v2/artifacts"], "no minio:// filesystem"),
        (["--gpu-toleration", "nvidia.com/gpu"], "Invalid --gpu-toleration 'nvidia.com/gpu'"),
    ],
)
def test_bad_compile_flags_fail_before_building(tmp_path, capsys, extra, message):
    output = str(tmp_path / "p.yaml")
    argv = ["compile", "--data-root", "gs://b/images", "--base-model", "MobileNetV2", "--output", output,
            "--pipeline-root", "gs://b/root", *extra]
    assert cli.main(argv) == 2
    assert message in capsys.readouterr().err
    assert not os.path.exists(output)


UNREACHABLE_ROOT = "gs://tfx-transfer-nonexistent-bucket/images"
UNREACHABLE_BASE = "gs://tfx-transfer-nonexistent-bucket/base.keras"


@pytest.fixture
def unreachable_gcs(monkeypatch):
    """gs:// paths this machine cannot read, as on a CI machine without credentials or network.

    Where GCS can be reached after all, the failure it would give is simulated instead.
    """
    from tfx_transfer.trainer.data import storage

    real = storage.path_status
    if real(UNREACHABLE_ROOT).reachable:
        def unreachable(path):
            if path.startswith("gs://"):
                return storage.PathStatus(path, storage.UNREACHABLE, "FailedPreconditionError: simulated")
            return real(path)

        monkeypatch.setattr(storage, "path_status", unreachable)


def test_compile_without_access_to_the_data_or_the_base(tmp_path, unreachable_gcs, capsys):
    output = str(tmp_path / "pipeline.yaml")
    argv = ["compile", "--data-root", UNREACHABLE_ROOT, "--base-model", UNREACHABLE_BASE, "--cut-layer", "flatten_1",
            "--pipeline-root", "gs://tfx-transfer-nonexistent-bucket/root", "--output", output]
    assert cli.main(argv) == 2
    assert "cannot be read from this machine, so its classes cannot be counted; give num_classes (--num-classes)" in capsys.readouterr().err
    assert not os.path.exists(output)

    assert cli.main(argv + ["--num-classes", "4"]) == 0
    out = capsys.readouterr().out
    spec = load_pipeline_spec(output)
    assert set(_executors(spec)) >= HEAVY | {"ImageFolderExampleGen", "Evaluator"}
    assert "Not checked at compile time" in out
    assert f"ImageFolderExampleGen input_base: {UNREACHABLE_ROOT} cannot be read from this machine" in out
    assert "Assumed layout 'class_folders'" in out
    assert f"model_uri: {UNREACHABLE_BASE} cannot be read from this machine" in out
    # The class count reaches FineTuner, which checks it against the labels when it runs.
    fine_tuner = json.loads(_parameter(spec, "FineTuner", "config"))
    assert fine_tuner["run"]["num_classes"] == 4
    extractor = json.loads(_parameter(spec, "BottleneckExtractor", "fingerprint"))
    assert extractor["weights_sha256"] == f"unhashed:{UNREACHABLE_BASE}"


def _parameter(spec, component: str, name: str) -> str:
    """A component's constant exec property in the compiled spec."""
    value = spec.root.dag.tasks[component].inputs.parameters[name].runtime_value
    # Schema 2.1 writes `constant`; 2.0 wrote `constantValue`.
    return value.constant.string_value if value.HasField("constant") else value.constant_value.string_value


def test_unlabelled_images_add_an_extractor_on_gpu_and_feed_fine_tuner(tmp_path, image_folder, tiny_cnn_path):
    path = _compile(tmp_path, image_folder, tiny_cnn_path, "--unlabelled-root", os.path.join(image_folder, "eval"),
                    "--adaptation", "dann", "--block-push-on-drift", "--drop-suspect-labels")
    spec = kfp_compat.load_yaml_package(path).pipeline_spec
    deployment = json_format.MessageToDict(spec.deployment_spec)["executors"]
    labels = {cid: spec.components[task.component_ref.name].executor_label for cid, task in spec.root.dag.tasks.items()}
    with_gpu = {cid for cid, label in labels.items() if "accelerator" in deployment[label]["container"].get("resources", {})}
    assert with_gpu == HEAVY | {"UnlabelledBottleneckExtractor"}
    tasks = spec.root.dag.tasks
    assert not tasks["UnlabelledExampleGen"].caching_options.enable_cache  # re-reads the folder on every run
    unlabelled = tasks["FineTuner"].inputs.artifacts["unlabelled_bottlenecks"].task_output_artifact
    assert unlabelled.producer_task == "UnlabelledBottleneckExtractor"
    drift_input = tasks["EmbeddingDriftValidator"].inputs.artifacts["other_bottlenecks"].task_output_artifact
    assert drift_input.producer_task == "UnlabelledBottleneckExtractor"
    assert tasks["Pusher"].inputs.artifacts["infra_blessing"].task_output_artifact.producer_task == "EmbeddingDriftValidator"
    config = json.loads(tasks["FineTuner"].inputs.parameters["config"].runtime_value.constant.string_value)
    assert config["run"]["adaptation"] == "dann" and config["run"]["drop_suspect_labels"] is True
    drift_config = json.loads(tasks["EmbeddingDriftValidator"].inputs.parameters["config"].runtime_value.constant.string_value)
    assert drift_config["block_push"] is True and drift_config["split"] == "unlabelled"
