"""What the heavy steps ask of the cluster: accelerators, CPU and memory, and node placement.

Two targets read these differently:

- `kubeflow` (open-source Kubeflow Pipelines 2.x): the backend's driver copies the accelerator
  name into the pod's resource limits, so it must be a Kubernetes extended-resource name
  (`nvidia.com/gpu`). Node selectors and tolerations go into a KFP PlatformSpec (the package's
  second YAML document), which the driver applies to the pod (node selectors since KFP 2.0,
  tolerations since 2.1).
- `vertex` (Vertex AI Pipelines): accelerator names are Vertex's `AcceleratorType` enum
  (`NVIDIA_TESLA_T4`); Vertex places the pods itself.
"""

from __future__ import annotations

import dataclasses
import re
from typing import Any, Dict, List, Optional, Sequence, Tuple

from kfp.pipeline_spec import pipeline_spec_pb2

from tfx_transfer.trainer.common import checks

ResourceSpec = pipeline_spec_pb2.PipelineDeploymentConfig.PipelineContainerSpec.ResourceSpec

TARGET_KUBEFLOW = "kubeflow"
TARGET_VERTEX = "vertex"
TARGETS = (TARGET_KUBEFLOW, TARGET_VERTEX)

# Accelerator names that Vertex AI Pipelines accepts (its `AcceleratorType` enum, v1 API).
VERTEX_ACCELERATOR_TYPES = (
    "NVIDIA_TESLA_K80", "NVIDIA_TESLA_P4", "NVIDIA_TESLA_P100", "NVIDIA_TESLA_V100", "NVIDIA_TESLA_T4",
    "NVIDIA_TESLA_A100", "NVIDIA_A100_80GB", "NVIDIA_L4", "NVIDIA_H100_80GB", "NVIDIA_H100_MEGA_80GB",
    "NVIDIA_H200_141GB", "NVIDIA_B200", "NVIDIA_GB200", "NVIDIA_RTX_PRO_6000",
    "TPU_V2", "TPU_V3", "TPU_V4_POD", "TPU_V5_LITEPOD",
)
# Kubernetes extended-resource names of the usual device plugins; any `<domain>/<name>` is
# accepted on the kubeflow target, these are the ones an error message suggests.
KUBERNETES_ACCELERATOR_TYPES = ("nvidia.com/gpu", "amd.com/gpu", "gpu.intel.com/i915")
_KUBERNETES_RESOURCE = re.compile(r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?/[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$")

DEFAULT_GPU_TYPES = {TARGET_KUBEFLOW: "nvidia.com/gpu", TARGET_VERTEX: "NVIDIA_TESLA_T4"}

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

TOLERATION_EFFECTS = ("NoSchedule", "PreferNoSchedule", "NoExecute")


def check_target(target: str) -> str:
    return checks.check_choice("target", target, TARGETS)


def check_accelerator_type(gpu_type: str, target: str) -> str:
    """Returns `gpu_type` if `target` accepts it; else a ValueError naming the valid ones.

    Checked at compile time so that a typo fails here instead of leaving a pod unschedulable.
    """
    if target == TARGET_VERTEX:
        if gpu_type not in VERTEX_ACCELERATOR_TYPES:
            hint = " (a Kubernetes resource name: use it with --target kubeflow)" if "/" in str(gpu_type) else ""
            raise ValueError(
                f"Unknown gpu_type {gpu_type!r} for target 'vertex'{hint}; valid Vertex AI types are "
                f"{', '.join(VERTEX_ACCELERATOR_TYPES)}."
            )
        return gpu_type
    if not isinstance(gpu_type, str) or not _KUBERNETES_RESOURCE.match(gpu_type):
        hint = " (a Vertex AI name: use it with --target vertex)" if gpu_type in VERTEX_ACCELERATOR_TYPES else ""
        raise ValueError(
            f"Unknown gpu_type {gpu_type!r} for target 'kubeflow'{hint}; open-source KFP needs a Kubernetes "
            f"resource name, e.g. {', '.join(KUBERNETES_ACCELERATOR_TYPES)}."
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

    target: 'kubeflow' or 'vertex'; it decides which accelerator names are valid.
    gpu_type: the accelerator name; None takes the target's default (`DEFAULT_GPU_TYPES`).
    gpus: accelerators per heavy step; 0 means CPU only (then gpu_type is not used).
    cpu_limit: vCPUs, e.g. 4 or 0.5; None leaves the platform default.
    memory_limit: e.g. '16G' or '512Mi'; None leaves the platform default.
    """

    target: str = TARGET_KUBEFLOW
    gpu_type: Optional[str] = None
    gpus: int = 1
    cpu_limit: Optional[float] = None
    memory_limit: Optional[str] = None

    def __post_init__(self) -> None:
        check_target(self.target)
        checks.check_int("gpus", self.gpus, 0)
        if self.gpu_type is None:
            object.__setattr__(self, "gpu_type", DEFAULT_GPU_TYPES[self.target])
        if self.gpus > 0:
            check_accelerator_type(self.gpu_type, self.target)
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

    def string_fields(self) -> Dict[str, Any]:
        """The newer `resource_*` fields (strings) that KFP backends from 2.4 read instead of the old ones."""
        fields: Dict[str, Any] = {}
        if self.gpus > 0:
            fields["accelerator"] = {"resourceType": self.gpu_type, "resourceCount": str(self.gpus)}
        if self.cpu_limit is not None:
            fields["resourceCpuLimit"] = f"{self.cpu_limit:g}"
        if self.memory_limit is not None:
            fields["resourceMemoryLimit"] = self.memory_limit
        return fields


@dataclasses.dataclass(frozen=True)
class Toleration:
    """A Kubernetes toleration: `key=value:Effect` (operator Equal) or `key:Effect` (Exists)."""

    key: str
    effect: str
    value: Optional[str] = None

    def to_dict(self) -> Dict[str, str]:
        toleration = {"key": self.key, "operator": "Equal" if self.value is not None else "Exists", "effect": self.effect}
        if self.value is not None:
            toleration["value"] = self.value
        return toleration


def parse_node_selector(items: Sequence[str]) -> Dict[str, str]:
    """['cloud.google.com/gke-accelerator=nvidia-tesla-t4'] -> {label: value}."""
    labels: Dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=") if isinstance(item, str) else ("", "", "")
        if not sep or not key.strip() or not value.strip():
            raise ValueError(
                f"Invalid --gpu-node-selector {item!r}: expected KEY=VALUE, e.g. "
                "'cloud.google.com/gke-accelerator=nvidia-tesla-t4'."
            )
        labels[key.strip()] = value.strip()
    return labels


def parse_toleration(item: str) -> Toleration:
    """'nvidia.com/gpu:NoSchedule' or 'dedicated=gpu:NoExecute' -> Toleration."""
    head, sep, effect = item.rpartition(":") if isinstance(item, str) else ("", "", "")
    key, eq, value = head.partition("=")
    if not sep or not key.strip() or effect not in TOLERATION_EFFECTS or (eq and not value.strip()):
        raise ValueError(
            f"Invalid --gpu-toleration {item!r}: expected KEY[=VALUE]:EFFECT with EFFECT one of "
            f"{', '.join(TOLERATION_EFFECTS)}, e.g. 'nvidia.com/gpu:NoSchedule'."
        )
    return Toleration(key.strip(), effect, value.strip() if eq else None)


@dataclasses.dataclass(frozen=True)
class NodePlacement:
    """Where the heavy steps' pods may run (kubeflow target): node labels and tolerations."""

    node_selector: Dict[str, str] = dataclasses.field(default_factory=dict)
    tolerations: Tuple[Toleration, ...] = ()

    @classmethod
    def from_flags(cls, selectors: Sequence[str], tolerations: Sequence[str], resources: ResourceConfig) -> "NodePlacement":
        """From CLI flags; without --gpu-toleration, GPU steps tolerate the GPU's own taint.

        GPU node pools are commonly tainted with the accelerator's resource name (the NVIDIA GPU
        operator and GKE both taint `nvidia.com/gpu`), so that toleration is the default.
        """
        parsed = tuple(parse_toleration(item) for item in tolerations)
        if not parsed and resources.gpus > 0 and resources.target == TARGET_KUBEFLOW:
            parsed = (Toleration(resources.gpu_type, "NoSchedule"),)
        return cls(parse_node_selector(selectors), parsed)

    def executor_config(self) -> Dict[str, Any]:
        """A KubernetesExecutorConfig (kfp-kubernetes) as a dict, for one executor."""
        config: Dict[str, Any] = {}
        if self.node_selector:
            config["nodeSelector"] = {"labels": dict(self.node_selector)}
        if self.tolerations:
            config["tolerations"] = [toleration.to_dict() for toleration in self.tolerations]
        return config


def platform_spec(executor_labels: Sequence[str], placement: NodePlacement) -> Optional[Dict[str, Any]]:
    """The PlatformSpec document for `executor_labels`, or None when there is nothing to place."""
    config = placement.executor_config()
    if not config:
        return None
    executors: List[Tuple[str, Dict[str, Any]]] = [(label, config) for label in executor_labels]
    return {"platforms": {"kubernetes": {"deploymentSpec": {"executors": dict(executors)}}}}
