"""Compiling with KubeflowV2DagRunner: resources on the heavy step only, image, Beam args, errors."""

from __future__ import annotations

import json
import os

import pytest
import yaml
from tfx import v1 as tfx

from testdata import executors, load_pipeline_spec, png_bytes
from tfx_transfer.components import BottleneckExtractor, ImageFolderExampleGen
from tfx_transfer.pipeline import kfp_package
from tfx_transfer.pipeline import kubeflow_v2_runner as runner

IMAGE = "gcr.io/example/tfx-transfer:test"
BEAM_ARGS = ("--direct_num_workers=2", "--direct_running_mode=multi_processing")
HEAVY = ("BottleneckExtractor",)


@pytest.fixture(scope="module")
def image_folder(tmp_path_factory) -> str:
    """Two class folders of three tiny PNGs each."""
    root = tmp_path_factory.mktemp("images")
    for label in ("cat", "dog"):
        (root / label).mkdir()
        for i in range(3):
            (root / label / f"{i}.png").write_bytes(png_bytes(16, 16, seed=i))
    return str(root)


def small_pipeline(image_folder: str, pipeline_root: str) -> tfx.dsl.Pipeline:
    """ImageFolderExampleGen -> BottleneckExtractor (MobileNetV2, no weights download)."""
    example_gen = ImageFolderExampleGen(input_base=image_folder)
    extractor = BottleneckExtractor(
        examples=example_gen.outputs["examples"], keras_application="MobileNetV2", weights=None, image_size=32
    )
    return tfx.dsl.Pipeline(
        pipeline_name="kfp-test", pipeline_root=pipeline_root, components=[example_gen, extractor]
    )


def test_gpu_only_on_heavy_step_with_image_and_beam_args(image_folder, tmp_path):
    pipeline = small_pipeline(image_folder, str(tmp_path / "root"))
    resources = runner.ResourceConfig(gpu_type="NVIDIA_TESLA_T4", gpus=2, cpu_limit=4, memory_limit="16G")
    out = str(tmp_path / "out" / "pipeline.json")

    assert runner.compile_pipeline(pipeline, out, IMAGE, resources, HEAVY, BEAM_ARGS) == out

    with open(out) as f:
        assert "pipelineSpec" in json.load(f)  # .json is TFX's PipelineJob wrapper
    by_id = executors(load_pipeline_spec(out))
    assert set(by_id) == {"ImageFolderExampleGen", "BottleneckExtractor"}
    heavy = by_id["BottleneckExtractor"].container
    assert heavy.resources.accelerator.type == "NVIDIA_TESLA_T4"
    assert heavy.resources.accelerator.count == 2
    assert heavy.resources.cpu_limit == 4.0
    assert heavy.resources.memory_limit == 16.0
    example_gen = by_id["ImageFolderExampleGen"].container
    assert not example_gen.HasField("resources")
    assert not example_gen.resources.accelerator.type
    assert [cid for cid, e in by_id.items() if e.container.resources.accelerator.count] == ["BottleneckExtractor"]
    assert {cid: e.container.image for cid, e in by_id.items()} == {cid: IMAGE for cid in by_id}
    assert list(heavy.args[-len(BEAM_ARGS):]) == list(BEAM_ARGS)
    assert list(example_gen.args[-len(BEAM_ARGS):]) == list(BEAM_ARGS)
    assert list(pipeline.beam_pipeline_args) == list(BEAM_ARGS)
    # What kfp_submit sends: the PipelineSpec, with the PipelineJob's root as the run's root.
    assert kfp_package.load_package(out).pipeline_root == str(tmp_path / "root")

    # Compiling the same pipeline object again does not repeat the Beam args.
    runner.compile_pipeline(pipeline, out, IMAGE, resources, HEAVY, BEAM_ARGS)
    heavy_args = list(executors(load_pipeline_spec(out))["BottleneckExtractor"].container.args)
    assert all(heavy_args.count(arg) == 1 for arg in BEAM_ARGS)


def test_cpu_only_yaml_has_no_accelerator(image_folder, tmp_path):
    pipeline = small_pipeline(image_folder, str(tmp_path / "root"))
    runner.apply_resources(pipeline, HEAVY, runner.ResourceConfig(gpus=1))  # then recompiled CPU-only
    out = str(tmp_path / "pipeline.yaml")

    runner.compile_pipeline(pipeline, out, IMAGE, runner.ResourceConfig(gpus=0), HEAVY)

    with open(out) as f:
        assert "pipelineSpec" not in yaml.safe_load(f)  # .yaml is the bare PipelineSpec
    by_id = executors(load_pipeline_spec(out))
    assert all(not e.container.resources.accelerator.type for e in by_id.values())
    assert all(not e.container.HasField("resources") for e in by_id.values())
    assert {e.container.image for e in by_id.values()} == {IMAGE}
    assert kfp_package.load_package(out).name == "kfp-test"


def test_cpu_only_with_limits_sets_limits_without_accelerator():
    spec = runner.ResourceConfig(gpus=0, cpu_limit=0.5, memory_limit="512Mi").resource_spec()
    assert not spec.HasField("accelerator")
    assert spec.cpu_limit == 0.5
    assert spec.memory_limit == pytest.approx(512 * 2**20 / 1e9)
    assert runner.ResourceConfig(gpus=0).resource_spec() is None


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"gpu_type": "TESLA_T4"}, r"Unknown gpu_type 'TESLA_T4'.*NVIDIA_TESLA_T4.*nvidia\.com/gpu"),
        ({"gpus": -1}, r"gpus=-1 is invalid; valid values are ints >= 0"),
        ({"gpus": 1.5}, r"gpus=1\.5 is invalid"),
        ({"gpus": True}, r"gpus=True is invalid"),
        ({"memory_limit": "16 gigs"}, r"Invalid memory_limit '16 gigs'.*'16G'"),
        ({"memory_limit": "16"}, r"Invalid memory_limit '16'"),
        ({"cpu_limit": 0}, r"cpu_limit=0 is invalid; valid values are positive numbers"),
    ],
)
def test_bad_resource_config_raises_clear_error(kwargs, message):
    with pytest.raises(ValueError, match=message):
        runner.ResourceConfig(**kwargs)


def test_kubernetes_accelerator_name_is_accepted():
    spec = runner.ResourceConfig(gpu_type="nvidia.com/gpu", gpus=1).resource_spec()
    assert (spec.accelerator.type, spec.accelerator.count) == ("nvidia.com/gpu", 1)


def test_unknown_or_unsupported_heavy_component_raises(image_folder, tmp_path):
    pipeline = small_pipeline(image_folder, str(tmp_path / "root"))
    with pytest.raises(ValueError, match=r"\['FineTuner'\] are not in pipeline 'kfp-test'.*BottleneckExtractor"):
        runner.apply_resources(pipeline, ("BottleneckExtractor", "FineTuner"), runner.ResourceConfig())
    with pytest.raises(ValueError, match="'ImageFolderExampleGen'.*cannot take container resources"):
        runner.apply_resources(pipeline, ("ImageFolderExampleGen",), runner.ResourceConfig())


def test_bad_compile_arguments_raise(image_folder, tmp_path):
    pipeline = small_pipeline(image_folder, str(tmp_path / "root"))
    out = str(tmp_path / "p.json")
    with pytest.raises(ValueError, match="Invalid image ''"):
        runner.compile_pipeline(pipeline, out, "", runner.ResourceConfig(), HEAVY)
    with pytest.raises(ValueError, match="Invalid output_path"):
        runner.compile_pipeline(pipeline, str(tmp_path / "p.txt"), IMAGE, runner.ResourceConfig(), HEAVY)
    with pytest.raises(ValueError, match="Invalid Beam arg 'DirectRunner'"):
        runner.compile_pipeline(pipeline, out, IMAGE, runner.ResourceConfig(), HEAVY, ["--runner", "DirectRunner"])
    assert not os.path.exists(out)
