"""A compiled pipeline file and its runtime parameters, read and checked before any network call."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

import yaml
from google.protobuf import json_format
from kfp.pipeline_spec import pipeline_spec_pb2

from tfx_transfer.pipeline.kubeflow import compat as kfp_compat

def parse_params(items: Sequence[str]) -> Dict[str, str]:
    """['epochs=10', 'note=a=b'] -> {'epochs': '10', 'note': 'a=b'}: CLI 'name=value' pairs.

    Raises ValueError for an item without '=' or a name, or a name given twice.
    """
    params: Dict[str, str] = {}
    for item in items:
        name, sep, value = item.partition("=") if isinstance(item, str) else ("", "", "")
        name = name.strip()
        if not sep or not name or any(c.isspace() for c in name):
            raise ValueError(f"Malformed parameter {item!r}: expected 'name=value', e.g. 'epochs=10'.")
        if name in params:
            raise ValueError(f"Parameter {name!r} is given twice ({params[name]!r} and {value!r}).")
        params[name] = value
    return params


# Pipeline roots the steps can write: TFX executors write through tf.io.gfile.
ROOT_SCHEMES = {"kubeflow": ("gs://", "s3://"), "vertex": ("gs://",)}


def check_pipeline_root(pipeline_root: str, target: str) -> str:
    """`pipeline_root` if the target's steps can write there; else a ValueError saying what works."""
    schemes = ROOT_SCHEMES[target]
    if isinstance(pipeline_root, str) and pipeline_root.startswith(schemes):
        return pipeline_root
    valid = " or ".join(f"{scheme}BUCKET/PATH" for scheme in schemes)
    if isinstance(pipeline_root, str) and pipeline_root.startswith("minio://"):
        raise ValueError(
            f"Pipeline root {pipeline_root!r} cannot be used: TFX's executors write through tf.io.gfile, "
            "which has no minio:// filesystem (kubeflow/pipelines#4659). Use s3://BUCKET/PATH with the "
            "image's S3 filesystem pointed at MinIO (S3_ENDPOINT=minio-service.kubeflow:9000, "
            "S3_USE_HTTPS=0, AWS credentials), or a gs:// bucket."
        )
    raise ValueError(
        f"Pipeline root {pipeline_root!r} cannot be shared by the pipeline's pods; use {valid} for target {target!r}."
    )


@dataclasses.dataclass(frozen=True)
class PipelinePackage:
    """A compiled pipeline: its PipelineSpec and PlatformSpec (as dicts) and its pipeline root.

    The root is the PipelineSpec's `defaultPipelineRoot` or, for TFX's PipelineJob JSON, its
    runtime config's output directory.
    """

    spec: Dict[str, Any]
    pipeline_root: Optional[str]
    platform_spec: Dict[str, Any] = dataclasses.field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.spec["pipelineInfo"]["name"]

    def digest(self) -> str:
        """A short content hash: the name of this package's pipeline version."""
        canonical = json.dumps([self.spec, self.platform_spec], sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()[:12]

    def documents(self) -> List[Dict[str, Any]]:
        """The YAML documents KFP uploads: the PipelineSpec, then the PlatformSpec if any."""
        return [self.spec] + ([self.platform_spec] if self.platform_spec else [])


def _read_json_job(package_path: str) -> Tuple[Dict[str, Any], Dict[str, Any], Optional[str]]:
    """(spec, platform spec, root) of a `.json` file: TFX's PipelineJob or a bare PipelineSpec."""
    try:
        with open(package_path) as f:
            document = json.load(f)
    except ValueError as e:
        raise ValueError(f"Pipeline package {package_path!r} is not valid JSON: {e}") from None
    if not isinstance(document, dict):
        raise ValueError(f"Pipeline package {package_path!r} does not hold a pipeline spec.")
    spec = document.get("pipelineSpec", document)
    try:
        json_format.ParseDict(spec, pipeline_spec_pb2.PipelineSpec())
    except json_format.ParseError as e:
        raise ValueError(f"Pipeline package {package_path!r} is not a KFP PipelineSpec: {e}") from None
    root = document.get("runtimeConfig", {}).get("gcsOutputDirectory") if spec is not document else None
    return spec, {}, root or spec.get("defaultPipelineRoot")


def _read_yaml_package(package_path: str) -> Tuple[Dict[str, Any], Dict[str, Any], Optional[str]]:
    """(spec, platform spec, root) of a `.yaml` file, read exactly as kfp's Client reads it."""
    try:
        doc = kfp_compat.load_yaml_package(package_path)
    except yaml.YAMLError as e:
        raise ValueError(f"Pipeline package {package_path!r} is not valid YAML: {e}") from None
    except (json_format.ParseError, TypeError, AttributeError) as e:
        raise ValueError(f"Pipeline package {package_path!r} is not a KFP PipelineSpec: {e}") from None
    spec = json_format.MessageToDict(doc.pipeline_spec)
    platform = json_format.MessageToDict(doc.platform_spec)
    return spec, platform, spec.get("defaultPipelineRoot")


def load_package(package_path: str) -> PipelinePackage:
    """Reads a `.json` (TFX's PipelineJob, or a bare PipelineSpec) or `.yaml`/`.yml` package.

    A YAML package is read with kfp's own loader, PlatformSpec document included, so what
    passes here is what `kfp.Client` uploads. Raises ValueError when the file is missing,
    unparsable, or not a KFP PipelineSpec.
    """
    if not package_path.endswith((".json", ".yaml", ".yml")):
        raise ValueError(
            f"Invalid package {package_path!r}: expected a .yaml/.yml (PipelineSpec, from compile) or "
            ".json (TFX PipelineJob, from compile --target vertex) file."
        )
    if not os.path.isfile(package_path):
        raise ValueError(f"Pipeline package {package_path!r} does not exist.")
    reader = _read_json_job if package_path.endswith(".json") else _read_yaml_package
    spec, platform, root = reader(package_path)
    if not spec.get("pipelineInfo", {}).get("name"):
        raise ValueError(f"Pipeline package {package_path!r} has no pipelineInfo.name.")
    return PipelinePackage(spec=spec, pipeline_root=root or None, platform_spec=platform)


def _declared_parameters(spec: Mapping[str, Any]) -> Dict[str, str]:
    """Parameter name -> declared type ('STRING', 'INT', 'NUMBER_INTEGER', ...) of the pipeline."""
    parameters = spec.get("root", {}).get("inputDefinitions", {}).get("parameters", {})
    return {name: p.get("parameterType") or p.get("type") or "STRING" for name, p in parameters.items()}


def _coerce(name: str, text: str, declared_type: str) -> Any:
    """The JSON value of a runtime parameter for its declared type ('10' -> 10 for an integer)."""
    try:
        if declared_type in ("INT", "NUMBER_INTEGER"):
            return int(text)
        if declared_type in ("DOUBLE", "NUMBER_DOUBLE"):
            return float(text)
        if declared_type == "BOOLEAN":
            if text.lower() not in ("true", "false"):
                raise ValueError(text)
            return text.lower() == "true"
        if declared_type in ("LIST", "STRUCT"):
            value = json.loads(text)
            if not isinstance(value, list if declared_type == "LIST" else dict):
                raise ValueError(text)
            return value
    except ValueError:
        raise ValueError(f"Parameter {name}={text!r} is not a valid {declared_type} value.") from None
    return text


def check_params(params: Mapping[str, Any], package: PipelinePackage) -> Dict[str, Any]:
    """Checks `params` against the pipeline's declared runtime parameters and types them.

    A name the pipeline does not declare would be rejected by the server (or silently unused),
    so it is a ValueError here, before any network call.
    """
    declared = _declared_parameters(package.spec)
    unknown = sorted(set(params) - set(declared))
    if unknown:
        raise ValueError(
            f"Pipeline {package.name!r} has no runtime parameter(s) {unknown}; "
            f"it declares {sorted(declared) or 'none'}."
        )
    values = {}
    for name, value in params.items():
        text = value if isinstance(value, str) else json.dumps(value)
        values[name] = _coerce(name, text, declared[name])
    return values
