"""Compiling for open-source KFP and Vertex AI: resources on the heavy step only, image, Beam args, errors."""

from __future__ import annotations

import json
import os

import pytest
import yaml
from tfx import v1 as tfx

from testdata import executors, load_pipeline_spec, png_bytes
from tfx_transfer.components import BottleneckExtractor, ImageFolderExampleGen
from tfx_transfer.pipeline.kubeflow import compat as kfp_compat, package as kfp_package
from tfx_transfer.pipeline.kubeflow import runner as runner
from tfx_transfer.pipeline.kubeflow.resources import NodePlacement, ResourceConfig, Toleration, parse_toleration

IMAGE = "gcr.io/example/tfx-transfer:test"
BEAM_ARGS = ("--direct_num_workers=2", "--direct_running_mode=multi_processing")
HEAVY = ("BottleneckExtractor",)
ROOT = "gs://bucket/root"


@pytest.fixture(scope="module")
def image_folder(tmp_path_factory) -> str:
    """Two class folders of three tiny PNGs each."""
    root = tmp_path_factory.mktemp("images")
    for label in ("cat", "dog"):
        (root / label).mkdir()
        for i in range(3):
            (root / label / f"{i}.png").write_bytes(png_bytes(16, 16, seed=i))
    return str(root)


def small_pipeline(image_folder: str, pipeline_root: str = ROOT) -> tfx.dsl.Pipeline:
    """ImageFolderExampleGen -> BottleneckExtractor (MobileNetV2, no weights download)."""
    example_gen = ImageFolderExampleGen(input_base=image_folder)
    extractor = BottleneckExtractor(
        examples=example_gen.outputs["examples"], keras_application="MobileNetV2", weights=None, image_size=32
    )
    return tfx.dsl.Pipeline(pipeline_name="kfp-test", pipeline_root=pipeline_root, components=[example_gen, extractor])


def test_kubeflow_yaml_with_both_resource_fields_and_a_platform_spec(image_folder, tmp_path):
    pipeline = small_pipeline(image_folder)
    resources = ResourceConfig(gpus=2, cpu_limit=4, memory_limit="16G")
    placement = NodePlacement({"pool": "gpu"}, (Toleration("nvidia.com/gpu", "NoSchedule"),))
    out = str(tmp_path / "pipeline.yaml")

    assert runner.compile_pipeline(pipeline, out, IMAGE, resources, HEAVY, BEAM_ARGS, placement) == out

    with open(out) as f:
        documents = list(yaml.safe_load_all(f))
    assert len(documents) == 2 and "pipelineSpec" not in documents[0]
    doc = kfp_compat.load_yaml_package(out)  # as kfp.Client reads it
    assert doc.pipeline_spec.schema_version == "2.1.0"
    assert doc.pipeline_spec.default_pipeline_root == ROOT
    by_id = executors(doc.pipeline_spec)
    heavy = by_id["BottleneckExtractor"].container
    assert (heavy.resources.accelerator.type, heavy.resources.accelerator.count) == ("nvidia.com/gpu", 2)
    assert (heavy.resources.cpu_limit, heavy.resources.memory_limit) == (4.0, 16.0)
    raw = documents[0]["deploymentSpec"]["executors"]["BottleneckExtractor_executor"]["container"]["resources"]
    assert raw["accelerator"]["resourceType"] == "nvidia.com/gpu" and raw["accelerator"]["resourceCount"] == "2"
    assert (raw["resourceCpuLimit"], raw["resourceMemoryLimit"]) == ("4", "16G")
    assert not by_id["ImageFolderExampleGen"].container.HasField("resources")
    assert {cid: list(e.container.command) for cid, e in by_id.items()} == {cid: list(runner.ENTRYPOINT_COMMAND) for cid in by_id}
    assert {e.container.image for e in by_id.values()} == {IMAGE}
    assert list(heavy.args[-len(BEAM_ARGS):]) == list(BEAM_ARGS)
    kubernetes = json.loads(json.dumps(documents[1]))["platforms"]["kubernetes"]["deploymentSpec"]["executors"]
    assert kubernetes == {"BottleneckExtractor_executor": {
        "nodeSelector": {"labels": {"pool": "gpu"}},
        "tolerations": [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}],
    }}
    package = kfp_package.load_package(out)
    assert (package.pipeline_root, package.name, package.platform_spec) == (ROOT, "kfp-test", documents[1])

    # Compiling the same pipeline object again does not repeat the Beam args.
    runner.compile_pipeline(pipeline, out, IMAGE, resources, HEAVY, BEAM_ARGS, placement)
    heavy_args = list(executors(load_pipeline_spec(out))["BottleneckExtractor"].container.args)
    assert all(heavy_args.count(arg) == 1 for arg in BEAM_ARGS)


def test_vertex_json_is_tfxs_pipeline_job(image_folder, tmp_path):
    pipeline = small_pipeline(image_folder)
    out = str(tmp_path / "pipeline.json")
    runner.compile_pipeline(pipeline, out, IMAGE, ResourceConfig(target="vertex", gpu_type="NVIDIA_TESLA_T4"), HEAVY)
    with open(out) as f:
        job = json.load(f)
    assert job["pipelineSpec"]["schemaVersion"] == "2.0.0"
    assert job["runtimeConfig"]["gcsOutputDirectory"] == ROOT
    heavy = executors(load_pipeline_spec(out))["BottleneckExtractor"].container
    assert (heavy.resources.accelerator.type, heavy.resources.accelerator.count) == ("NVIDIA_TESLA_T4", 1)
    assert kfp_package.load_package(out).pipeline_root == ROOT


def test_cpu_only_has_no_accelerator_and_no_platform_spec(image_folder, tmp_path):
    pipeline = small_pipeline(image_folder)
    runner.apply_resources(pipeline, HEAVY, ResourceConfig(gpus=1))  # then recompiled CPU-only
    out = str(tmp_path / "pipeline.yaml")
    resources = ResourceConfig(gpus=0)
    runner.compile_pipeline(pipeline, out, IMAGE, resources, HEAVY, placement=NodePlacement.from_flags([], [], resources))
    with open(out) as f:
        assert len(list(yaml.safe_load_all(f))) == 1
    by_id = executors(load_pipeline_spec(out))
    assert all(not e.container.HasField("resources") for e in by_id.values())


def test_cpu_only_with_limits_sets_limits_without_accelerator():
    resources = ResourceConfig(gpus=0, cpu_limit=0.5, memory_limit="512Mi")
    spec = resources.resource_spec()
    assert not spec.HasField("accelerator")
    assert spec.cpu_limit == 0.5 and spec.memory_limit == pytest.approx(512 * 2**20 / 1e9)
    assert resources.string_fields() == {"resourceCpuLimit": "0.5", "resourceMemoryLimit": "512Mi"}
    assert ResourceConfig(gpus=0).resource_spec() is None


def test_default_gpu_names_and_tolerations_follow_the_target():
    assert ResourceConfig().gpu_type == "nvidia.com/gpu" and ResourceConfig(target="vertex").gpu_type == "NVIDIA_TESLA_T4"
    default = NodePlacement.from_flags([], [], ResourceConfig(gpu_type="amd.com/gpu"))
    assert default.tolerations == (Toleration("amd.com/gpu", "NoSchedule"),)
    given = NodePlacement.from_flags(["a=b"], ["dedicated=ml:NoExecute"], ResourceConfig())
    assert given.node_selector == {"a": "b"} and given.tolerations == (Toleration("dedicated", "NoExecute", "ml"),)
    assert parse_toleration("dedicated=ml:NoExecute").to_dict() == {
        "key": "dedicated", "operator": "Equal", "value": "ml", "effect": "NoExecute"}


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"gpu_type": "TESLA_T4"}, r"Unknown gpu_type 'TESLA_T4' for target 'kubeflow'.*nvidia\.com/gpu"),
        ({"gpu_type": "NVIDIA_TESLA_T4"}, r"'NVIDIA_TESLA_T4' for target 'kubeflow' \(a Vertex AI name: use it with --target vertex\)"),
        ({"target": "vertex", "gpu_type": "nvidia.com/gpu"}, r"'nvidia.com/gpu' for target 'vertex' \(a Kubernetes resource name.*NVIDIA_TESLA_T4"),
        ({"target": "argo"}, r"Unknown target 'argo'; valid values are \['kubeflow', 'vertex'\]"),
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
        ResourceConfig(**kwargs)


@pytest.mark.parametrize(
    "selectors, tolerations, message",
    [
        (["novalue"], [], r"Invalid --gpu-node-selector 'novalue': expected KEY=VALUE"),
        ([], ["nvidia.com/gpu"], r"Invalid --gpu-toleration 'nvidia.com/gpu': expected KEY\[=VALUE\]:EFFECT"),
        ([], ["nvidia.com/gpu:Never"], r"EFFECT one of NoSchedule, PreferNoSchedule, NoExecute"),
    ],
)
def test_bad_placement_flags_raise(selectors, tolerations, message):
    with pytest.raises(ValueError, match=message):
        NodePlacement.from_flags(selectors, tolerations, ResourceConfig())


def test_unknown_or_unsupported_heavy_component_raises(image_folder):
    pipeline = small_pipeline(image_folder)
    with pytest.raises(ValueError, match=r"\['FineTuner'\] are not in pipeline 'kfp-test'.*BottleneckExtractor"):
        runner.apply_resources(pipeline, ("BottleneckExtractor", "FineTuner"), ResourceConfig())
    with pytest.raises(ValueError, match="'ImageFolderExampleGen'.*cannot take container resources"):
        runner.apply_resources(pipeline, ("ImageFolderExampleGen",), ResourceConfig())


@pytest.mark.parametrize(
    "root, target, message",
    [
        ("minio://mlpipeline/v2/artifacts", "kubeflow", r"minio://.*no minio:// filesystem.*Use s3://BUCKET/PATH .*S3_ENDPOINT"),
        ("/local/root", "kubeflow", r"'/local/root' cannot be shared by the pipeline's pods; use gs://BUCKET/PATH or s3://BUCKET/PATH"),
        ("s3://bucket/root", "vertex", r"use gs://BUCKET/PATH for target 'vertex'"),
    ],
)
def test_pipeline_roots_the_steps_cannot_write_are_refused(image_folder, tmp_path, root, target, message):
    out = str(tmp_path / ("p.yaml" if target == "kubeflow" else "p.json"))
    with pytest.raises(ValueError, match=message):
        runner.compile_pipeline(small_pipeline(image_folder, root), out, IMAGE, ResourceConfig(target=target), HEAVY)
    assert not os.path.exists(out)
    assert kfp_package.check_pipeline_root("s3://bucket/root", "kubeflow") == "s3://bucket/root"


def test_bad_compile_arguments_raise(image_folder, tmp_path):
    pipeline = small_pipeline(image_folder)
    out = str(tmp_path / "p.yaml")
    with pytest.raises(ValueError, match="Invalid image ''"):
        runner.compile_pipeline(pipeline, out, "", ResourceConfig(), HEAVY)
    with pytest.raises(ValueError, match=r"'.*p\.json' for target 'kubeflow' \(\.json is Vertex AI's PipelineJob: use --target vertex\)"):
        runner.compile_pipeline(pipeline, str(tmp_path / "p.json"), IMAGE, ResourceConfig(), HEAVY)
    with pytest.raises(ValueError, match="Invalid Beam arg 'DirectRunner'"):
        runner.compile_pipeline(pipeline, out, IMAGE, ResourceConfig(), HEAVY, ["--runner", "DirectRunner"])
    with pytest.raises(ValueError, match="--gpu-node-selector and --gpu-toleration apply to --target kubeflow only"):
        runner.compile_pipeline(pipeline, str(tmp_path / "p.json"), IMAGE, ResourceConfig(target="vertex"), HEAVY,
                                placement=NodePlacement({"a": "b"}))
    assert not os.path.exists(out)
