"""`tfx-transfer compile` of the whole pipeline, checked in the KFP v2 PipelineSpec proto."""

from __future__ import annotations

import json
import os

import pytest

from testdata import executors, load_pipeline_spec
from tfx_transfer.pipeline import cli

HEAVY = {"BottleneckExtractor", "FineTuner"}


def _compile(tmp_path, image_folder, base, *extra):
    output = str(tmp_path / "pipeline.json")
    code = cli.main([
        "compile", "--data-root", image_folder, "--base-model", base, "--cut-layer", "flatten_1",
        "--pipeline-root", "gs://bucket/root", "--output", output, "--image", "example.com/tfx-transfer:1.2",
        "--beam-arg=--runner=DataflowRunner", "--beam-arg=--region=europe-west4", *extra,
    ])
    assert code == 0
    return load_pipeline_spec(output)


def _executors(spec):
    """Component id -> container spec, for the steps that run a container."""
    return {cid: executor.container for cid, executor in executors(spec).items() if executor.HasField("container")}


def test_gpus_on_exactly_the_two_heavy_steps(tmp_path, image_folder, tiny_cnn_path):
    spec = _compile(tmp_path, image_folder, tiny_cnn_path, "--gpu-type", "NVIDIA_TESLA_A100", "--gpus", "2", "--memory", "32G")
    containers = _executors(spec)
    with_gpu = {name for name, c in containers.items() if c.resources.accelerator.count}
    assert with_gpu == HEAVY
    for name in HEAVY:
        accelerator = containers[name].resources.accelerator
        assert (accelerator.type, accelerator.count) == ("NVIDIA_TESLA_A100", 2)
        assert containers[name].resources.memory_limit == 32
    for name, container in containers.items():
        if container.image:  # Resolver steps run no container of ours.
            assert container.image == "example.com/tfx-transfer:1.2", name
    assert {"FineTuner", "Evaluator", "Pusher", "Transform", "EvaluationReport"} <= set(containers)
    for beam_component in ("BottleneckExtractor", "Transform", "StatisticsGen"):
        args = list(containers[beam_component].args)
        assert "--runner=DataflowRunner" in args and "--region=europe-west4" in args, beam_component


def test_cpu_only_compiles_without_accelerators(tmp_path, image_folder, tiny_cnn_path):
    spec = _compile(tmp_path, image_folder, tiny_cnn_path, "--gpus", "0")
    assert not any(c.resources.accelerator.count for c in _executors(spec).values())


UNREACHABLE_ROOT = "gs://tfx-transfer-nonexistent-bucket/images"
UNREACHABLE_BASE = "gs://tfx-transfer-nonexistent-bucket/base.keras"


@pytest.fixture
def unreachable_gcs(monkeypatch):
    """gs:// paths this machine cannot read, as on a CI machine without credentials or network.

    Where GCS can be reached after all, the failure it would give is simulated instead.
    """
    from tfx_transfer.trainer import storage

    real = storage.path_status
    if real(UNREACHABLE_ROOT).reachable:
        def unreachable(path):
            if path.startswith("gs://"):
                return storage.PathStatus(path, storage.UNREACHABLE, "FailedPreconditionError: simulated")
            return real(path)

        monkeypatch.setattr(storage, "path_status", unreachable)


def test_compile_without_access_to_the_data_or_the_base(tmp_path, unreachable_gcs, capsys):
    output = str(tmp_path / "pipeline.json")
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
