"""Compiles a tfx-transfer pipeline for open-source Kubeflow Pipelines 2.x or Vertex AI Pipelines.

`pipeline.py` builds the pipeline; this module attaches per-component resources (GPUs for the
heavy steps), Beam args and the container image, lets TFX's `KubeflowV2DagRunner` build the
PipelineJob, and writes what the target's backend accepts (`resources` says what each
reads):

- `kubeflow`: a bare PipelineSpec YAML at schema 2.1.0 (the OSS backend refuses 2.0.0), its
  `defaultPipelineRoot` set, accelerators in both the old (`type`/`count`) and new
  (`resourceType`/`resourceCount`) fields, and a second YAML document, the PlatformSpec, with
  the heavy executors' node selector and tolerations. Every step runs our entrypoint
  (`entrypoint`), which adapts the OSS launcher's ExecutorInput for TFX.
- `vertex`: TFX's PipelineJob JSON (or its PipelineSpec YAML) at schema 2.0.0, as before.

Where things land (`<spec>` is the PipelineSpec): accelerators and limits in
`<spec>.deploymentSpec.executors.<Id>_executor.container.resources` (heavy components only),
the image in every executor's `container.image`, Beam args at the end of every Beam
component's `container.args`.
"""

from __future__ import annotations

import json
import os
from typing import Any, Dict, List, Optional, Sequence

import yaml
from tfx import v1 as tfx
from tfx.components.example_gen.component import FileBasedExampleGen
from tfx.dsl.components.base import base_component, base_node
from tfx.orchestration import pipeline as tfx_pipeline

from tfx_transfer.components import tfx_compat
from tfx_transfer.pipeline import configs
from tfx_transfer.pipeline.kubeflow import package as kfp_package
from tfx_transfer.pipeline.kubeflow.resources import TARGET_KUBEFLOW, NodePlacement, ResourceConfig, check_target, platform_spec

# Every step runs through our entrypoint, which normalises the OSS launcher's input for TFX.
ENTRYPOINT_COMMAND = ("python", "-m", "tfx_transfer.pipeline.kubeflow.entrypoint")
SCHEMA_VERSION_KUBEFLOW = "2.1.0"
OUTPUT_SUFFIXES = {TARGET_KUBEFLOW: (".yaml", ".yml"), "vertex": (".json", ".yaml", ".yml")}

def _components_by_id(pipeline: tfx.dsl.Pipeline) -> Dict[str, base_node.BaseNode]:
    return {component.id: component for component in pipeline.components}


def _check_takes_resources(node: base_node.BaseNode) -> None:
    """Raises when TFX's KubeflowV2 step builder would silently drop a platform_config on `node`.

    It copies `platform_config` into the container spec of plain components only: not for
    FileBasedExampleGen (ImageFolderExampleGen included), importers or resolvers.
    """
    if not isinstance(node, base_component.BaseComponent) or isinstance(node, FileBasedExampleGen):
        raise ValueError(
            f"Component {node.id!r} ({type(node).__name__}) cannot take container resources: "
            "TFX's KubeflowV2 step builder ignores platform_config for ExampleGens, importers "
            "and resolvers. List only regular components as heavy."
        )


def apply_resources(
    pipeline: tfx.dsl.Pipeline, heavy_component_ids: Sequence[str], resources: ResourceConfig
) -> None:
    """Attaches `resources` (as a KFP ResourceSpec platform config) to exactly the heavy components.

    Every other component keeps its own platform config, so it gets no accelerator from here.
    With nothing to request (gpus=0, no limits) the heavy components' platform config is
    cleared, so a pipeline object can be recompiled CPU-only after a GPU compile.
    Raises ValueError for an id the pipeline does not have (a typo would silently cost the GPU).
    """
    if isinstance(heavy_component_ids, str):
        raise TypeError("heavy_component_ids must be a sequence of ids, not a single string.")
    components = _components_by_id(pipeline)
    unknown = [cid for cid in heavy_component_ids if cid not in components]
    if unknown:
        raise ValueError(
            f"Heavy component ids {unknown} are not in pipeline "
            f"{pipeline.pipeline_info.pipeline_name!r}; its components are {sorted(components)}."
        )
    for cid in heavy_component_ids:
        _check_takes_resources(components[cid])
    spec = resources.resource_spec()
    for cid in heavy_component_ids:
        component = components[cid]
        if spec is None:
            component.platform_config = None
        else:
            component.with_platform_config(spec)


def _check_beam_args(beam_pipeline_args: Sequence[str]) -> None:
    """Beam args must be '--flag' or '--flag=value' items, so that each one stands alone."""
    if isinstance(beam_pipeline_args, str):
        raise TypeError("beam_pipeline_args must be a sequence of '--flag=value' strings, not a string.")
    for arg in beam_pipeline_args:
        if not isinstance(arg, str) or not arg.startswith("--"):
            raise ValueError(
                f"Invalid Beam arg {arg!r}: expected '--flag=value' items, e.g. "
                "'--direct_num_workers=4' (join a flag and its value with '=')."
            )


def add_beam_pipeline_args(pipeline: tfx.dsl.Pipeline, beam_pipeline_args: Sequence[str]) -> None:
    """Adds Beam args to the pipeline's `beam_pipeline_args` and to its Beam components.

    TFX copies pipeline-level Beam args into Beam components only when the Pipeline is built;
    the KubeflowV2 step builder then reads Beam components' own args (and the pipeline's for
    the rest). So both are updated here, with TFX's own helper for the components, which puts
    them before component-level args so those still win. Args already present are skipped, so
    compiling the same pipeline object twice does not repeat them.
    """
    _check_beam_args(beam_pipeline_args)
    new_args = [arg for arg in dict.fromkeys(beam_pipeline_args) if arg not in pipeline.beam_pipeline_args]
    if not new_args:
        return
    for component in pipeline.components:
        tfx_pipeline.add_beam_pipeline_args_to_component(component, new_args)
    tfx_compat.set_pipeline_beam_args(pipeline, list(pipeline.beam_pipeline_args) + new_args)


def _check_output(output_path: str, image: str, target: str) -> None:
    if not isinstance(image, str) or not image.strip():
        raise ValueError(f"Invalid image {image!r}: expected a container image, e.g. 'gcr.io/p/tfx-transfer:0.1.0'.")
    suffixes = OUTPUT_SUFFIXES[target]
    if not output_path.endswith(suffixes):
        hint = " (.json is Vertex AI's PipelineJob: use --target vertex)" if output_path.endswith(".json") else ""
        raise ValueError(
            f"Invalid output {output_path!r} for target {target!r}{hint}: expected a file name ending in "
            f"{' or '.join(suffixes)}."
        )


def _executor_labels(spec: Dict[str, Any], component_ids: Sequence[str]) -> Dict[str, str]:
    """Component id -> its executor label in a compiled PipelineSpec dict."""
    tasks = spec["root"]["dag"]["tasks"]
    return {cid: spec["components"][tasks[cid]["componentRef"]["name"]]["executorLabel"] for cid in component_ids}


def _reread_inputs(spec: Dict[str, Any], example_gen_ids: Sequence[str]) -> None:
    """Turns KFP's cache off for the ExampleGens, so every run reads the folder as it is then.

    TFX fingerprints an ExampleGen's input files in a driver hook (`lifecycle.preCacheCheck`)
    that the open-source backend never runs, and KFP's own cache key holds only parameters and
    input artifact ids, so a cached ExampleGen would never see new images. Downstream steps then
    run again too, because the cache keys on artifact identity, not content.
    """
    for cid in example_gen_ids:
        spec["root"]["dag"]["tasks"][cid]["cachingOptions"] = {"enableCache": False}


def _kubeflow_documents(
    job: Dict[str, Any], pipeline: tfx.dsl.Pipeline, heavy_component_ids: Sequence[str], resources: ResourceConfig,
    placement: NodePlacement,
) -> List[Dict[str, Any]]:
    """The PipelineSpec (with the new resource fields and the root) and, if any, its PlatformSpec."""
    spec = job["pipelineSpec"]
    spec["defaultPipelineRoot"] = pipeline.pipeline_info.pipeline_root
    _reread_inputs(spec, [c.id for c in pipeline.components if isinstance(c, FileBasedExampleGen)])
    labels = _executor_labels(spec, heavy_component_ids)
    executors = spec["deploymentSpec"]["executors"]
    for label in labels.values():
        container_resources = executors[label]["container"].setdefault("resources", {})
        extra = resources.string_fields()
        container_resources.setdefault("accelerator", {}).update(extra.pop("accelerator", {}))
        container_resources.update(extra)
        if not container_resources.get("accelerator"):
            container_resources.pop("accelerator")
        if not container_resources:
            executors[label]["container"].pop("resources")
    platform = platform_spec(list(labels.values()), placement)
    return [spec] + ([platform] if platform else [])


def _write(path: str, documents: List[Dict[str, Any]]) -> None:
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "w") as f:
        if path.endswith(".json"):
            json.dump(documents[0], f, sort_keys=True)
        else:
            f.write("# PIPELINE DEFINITION (tfx-transfer)\n")
            yaml.safe_dump_all(documents, f, sort_keys=True)


def compile_pipeline(
    pipeline: tfx.dsl.Pipeline,
    output_path: str,
    image: str,
    resources: ResourceConfig,
    heavy_component_ids: Optional[Sequence[str]] = None,
    beam_pipeline_args: Sequence[str] = (),
    placement: Optional[NodePlacement] = None,
) -> str:
    """Writes the pipeline file for `resources.target` and returns `output_path`.

    kubeflow: a `.yaml` PipelineSpec (+ PlatformSpec) for the open-source KFP 2.x backend; the
    pipeline root must be `gs://` or `s3://`. vertex: `.json` gets TFX's PipelineJob, `.yaml`
    its bare PipelineSpec. `image` is the container image of every step (build it from this
    repo's Dockerfile); `placement` (kubeflow only) puts the heavy steps on GPU nodes. The heavy
    steps are `configs.HEAVY_COMPONENT_IDS`, and `configs.OPTIONAL_HEAVY_COMPONENT_IDS` that the
    pipeline has, unless `heavy_component_ids` names others.
    """
    target = check_target(resources.target)
    _check_output(output_path, image, target)
    kfp_package.check_pipeline_root(pipeline.pipeline_info.pipeline_root, target)
    placement = placement or NodePlacement()
    if target != TARGET_KUBEFLOW and placement.executor_config():
        raise ValueError("--gpu-node-selector and --gpu-toleration apply to --target kubeflow only; Vertex AI places pods itself.")
    _check_beam_args(beam_pipeline_args)  # before apply_resources changes anything
    if heavy_component_ids is None:
        present = _components_by_id(pipeline)
        heavy_component_ids = configs.HEAVY_COMPONENT_IDS + tuple(
            cid for cid in configs.OPTIONAL_HEAVY_COMPONENT_IDS if cid in present)
    apply_resources(pipeline, heavy_component_ids, resources)
    add_beam_pipeline_args(pipeline, beam_pipeline_args)
    kubeflow = target == TARGET_KUBEFLOW
    runner = tfx.orchestration.experimental.KubeflowV2DagRunner(
        config=tfx.orchestration.experimental.KubeflowV2DagRunnerConfig(
            default_image=image, use_pipeline_spec_2_1=kubeflow, default_commands=list(ENTRYPOINT_COMMAND),
        ),
    )
    job = runner.run(pipeline, write_out=False)
    if kubeflow:
        documents = _kubeflow_documents(job, pipeline, heavy_component_ids, resources, placement)
    else:
        documents = [job if output_path.endswith(".json") else job["pipelineSpec"]]
    _write(output_path, documents)
    return output_path
