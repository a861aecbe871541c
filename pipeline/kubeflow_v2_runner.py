"""Compiles a tfx-transfer pipeline for Kubeflow Pipelines v2 / Vertex AI Pipelines.

Thin on purpose: `pipeline.py` builds the pipeline; this module only attaches per-component
resources (GPUs for the heavy steps), Beam args and the container image, then lets TFX's
`KubeflowV2DagRunner` write the pipeline file.

Where things land in the compiled file (`<spec>` is the top level of a `.yaml` output, or the
`pipelineSpec` key of a `.json` output, which is a whole `PipelineJob`):
- accelerator: `<spec>.deploymentSpec.executors.<Id>_executor.container.resources.accelerator`
  (`type`, `count`), with `cpuLimit` / `memoryLimit` (GB) beside it; heavy components only.
- image: `<spec>.deploymentSpec.executors.<Id>_executor.container.image`, every component.
- Beam args: appended to `<spec>.deploymentSpec.executors.<Id>_executor.container.args` of every
  Beam component (and, for the ExampleGen, to `container.lifecycle.preCacheCheck.args`).
"""

from __future__ import annotations

import dataclasses
import os
import re
from typing import Dict, Optional, Sequence

from kfp.pipeline_spec import pipeline_spec_pb2
from tfx import v1 as tfx
from tfx.components.example_gen.component import FileBasedExampleGen
from tfx.dsl.components.base import base_component, base_node
from tfx.orchestration import pipeline as tfx_pipeline

from tfx_transfer.components import tfx_compat
from tfx_transfer.pipeline import configs
from tfx_transfer.trainer import checks

ResourceSpec = pipeline_spec_pb2.PipelineDeploymentConfig.PipelineContainerSpec.ResourceSpec


# Accelerator names that Vertex AI Pipelines accepts (its `AcceleratorType` enum, v1 API).
VERTEX_ACCELERATOR_TYPES = (
    "NVIDIA_TESLA_K80",
    "NVIDIA_TESLA_P4",
    "NVIDIA_TESLA_P100",
    "NVIDIA_TESLA_V100",
    "NVIDIA_TESLA_T4",
    "NVIDIA_TESLA_A100",
    "NVIDIA_A100_80GB",
    "NVIDIA_L4",
    "NVIDIA_H100_80GB",
    "NVIDIA_H100_MEGA_80GB",
    "NVIDIA_H200_141GB",
    "NVIDIA_B200",
    "NVIDIA_GB200",
    "NVIDIA_RTX_PRO_6000",
    "TPU_V2",
    "TPU_V3",
    "TPU_V4_POD",
    "TPU_V5_LITEPOD",
)
# Open-source KFP v2 puts `accelerator.type` into the pod's resource limits as is, so there
# it must be a Kubernetes extended-resource name (what `PipelineTask.set_accelerator_type`
# documents for KFP).
KUBERNETES_ACCELERATOR_TYPES = (
    "nvidia.com/gpu",
    "amd.com/gpu",
    "cloud-tpus.google.com/v2",
    "cloud-tpus.google.com/v3",
)
ACCELERATOR_TYPES = VERTEX_ACCELERATOR_TYPES + KUBERNETES_ACCELERATOR_TYPES

# Memory units as Kubernetes and KFP's `set_memory_limit` spell them, in bytes.
_MEMORY_UNITS: Dict[str, float] = {
    "K": 1e3, "M": 1e6, "G": 1e9, "T": 1e12, "P": 1e15, "E": 1e18,
    "Ki": 2.0**10, "Mi": 2.0**20, "Gi": 2.0**30, "Ti": 2.0**40, "Pi": 2.0**50, "Ei": 2.0**60,
}
_MEMORY_RE = re.compile(r"^(\d+(?:\.\d+)?)(Ki|Mi|Gi|Ti|Pi|Ei|K|M|G|T|P|E)$")
_MEMORY_FORM = (
    "a number followed by a unit, K/M/G/T (powers of 1000) or Ki/Mi/Gi/Ti (powers of 1024), "
    "e.g. '16G' or '512Mi'"
)


def check_accelerator_type(gpu_type: str) -> str:
    """Returns `gpu_type` if KFP or Vertex accepts it; else a ValueError listing the valid ones.

    Checked here so that a typo fails at compile time instead of leaving a pod unschedulable.
    """
    if gpu_type not in ACCELERATOR_TYPES:
        raise ValueError(
            f"Unknown gpu_type {gpu_type!r}. Valid Vertex AI types: "
            f"{', '.join(VERTEX_ACCELERATOR_TYPES)}; valid open-source KFP (Kubernetes resource) "
            f"types: {', '.join(KUBERNETES_ACCELERATOR_TYPES)}."
        )
    return gpu_type


def memory_in_gb(memory: str) -> float:
    """'16G' -> 16.0, '512Mi' -> 0.536870912: the decimal GB that `ResourceSpec.memory_limit` holds.

    A unit is required: Kubernetes would read a bare '16' as 16 bytes.
    """
    match = _MEMORY_RE.match(memory) if isinstance(memory, str) else None
    if not match:
        raise ValueError(f"Invalid memory_limit {memory!r}: expected {_MEMORY_FORM}.")
    value = float(match.group(1)) * _MEMORY_UNITS[match.group(2)] / 1e9
    if value <= 0:
        raise ValueError(f"Invalid memory_limit {memory!r}: it must be more than zero.")
    return value


@dataclasses.dataclass(frozen=True)
class ResourceConfig:
    """Container resources of the heavy steps (BottleneckExtractor, FineTuner).

    gpu_type: an accelerator name, Vertex's (`'NVIDIA_TESLA_T4'`) or, on open-source KFP, a
      Kubernetes resource name (`'nvidia.com/gpu'`); see `ACCELERATOR_TYPES`.
    gpus: accelerators per heavy step; 0 means CPU only (then gpu_type is not used).
    cpu_limit: vCPUs, e.g. 4 or 0.5; None leaves the platform default.
    memory_limit: e.g. '16G' or '512Mi'; None leaves the platform default.
    """

    gpu_type: str = configs.DEFAULT_GPU_TYPE
    gpus: int = configs.DEFAULT_GPUS
    cpu_limit: Optional[float] = None
    memory_limit: Optional[str] = None

    def __post_init__(self) -> None:
        checks.check_int("gpus", self.gpus, 0)
        if self.gpus > 0 or self.gpu_type:
            check_accelerator_type(self.gpu_type)
        if self.cpu_limit is not None:
            checks.check_positive("cpu_limit", self.cpu_limit)
        if self.memory_limit is not None:
            memory_in_gb(self.memory_limit)

    def resource_spec(self) -> Optional[ResourceSpec]:
        """The KFP `ResourceSpec` for a heavy step, or None when nothing is requested."""
        spec = ResourceSpec()
        if self.gpus > 0:
            spec.accelerator.type = self.gpu_type
            spec.accelerator.count = self.gpus
        if self.cpu_limit is not None:
            spec.cpu_limit = float(self.cpu_limit)
        if self.memory_limit is not None:
            spec.memory_limit = memory_in_gb(self.memory_limit)
        return spec if spec.ListFields() else None




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


def compile_pipeline(
    pipeline: tfx.dsl.Pipeline,
    output_path: str,
    image: str,
    resources: ResourceConfig,
    heavy_component_ids: Sequence[str] = configs.HEAVY_COMPONENT_IDS,
    beam_pipeline_args: Sequence[str] = (),
) -> str:
    """Writes the KFP v2 pipeline file for `pipeline` and returns `output_path`.

    `output_path` ending in `.json` gets TFX's PipelineJob (`pipelineSpec` plus the runtime
    config with the pipeline root; what Vertex AI takes); `.yaml`/`.yml` gets the bare
    PipelineSpec that open-source KFP uploads (`kfp_submit.submit` takes either). `image` is
    the container image of every step (build it from this repo's Dockerfile).
    """
    if not isinstance(image, str) or not image.strip():
        raise ValueError(
            f"Invalid image {image!r}: expected a container image, e.g. 'gcr.io/p/tfx-transfer:0.1.0'."
        )
    if not output_path.endswith((".json", ".yaml", ".yml")):
        raise ValueError(f"Invalid output_path {output_path!r}: expected a .json, .yaml or .yml file name.")
    _check_beam_args(beam_pipeline_args)  # before apply_resources changes anything
    apply_resources(pipeline, heavy_component_ids, resources)
    add_beam_pipeline_args(pipeline, beam_pipeline_args)
    output_dir, output_filename = os.path.split(os.path.abspath(output_path))
    runner = tfx.orchestration.experimental.KubeflowV2DagRunner(
        config=tfx.orchestration.experimental.KubeflowV2DagRunnerConfig(default_image=image),
        output_dir=output_dir,
        output_filename=output_filename,
    )
    runner.run(pipeline)
    return output_path
