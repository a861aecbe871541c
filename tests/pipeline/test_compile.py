"""`tfx-transfer compile` of the whole pipeline, checked in the KFP v2 PipelineSpec proto."""

from __future__ import annotations

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
