"""A compiled pipeline file and its runtime parameters, read and checked before any network call."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from typing import Any, Dict, Mapping, Optional, Sequence

import yaml
from google.protobuf import json_format
from kfp.pipeline_spec import pipeline_spec_pb2

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


@dataclasses.dataclass(frozen=True)
class PipelinePackage:
    """A compiled pipeline: its PipelineSpec (as a dict) and the pipeline root a PipelineJob named."""

    spec: Dict[str, Any]
    pipeline_root: Optional[str]

    @property
    def name(self) -> str:
        return self.spec["pipelineInfo"]["name"]

    def digest(self) -> str:
        """A short content hash: the name of this package's pipeline version."""
        canonical = json.dumps(self.spec, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()[:12]


def load_package(package_path: str) -> PipelinePackage:
    """Reads a `.json` (TFX's PipelineJob, or a bare PipelineSpec) or `.yaml`/`.yml` PipelineSpec.

    Raises ValueError when the file is missing, unparsable, or not a KFP PipelineSpec.
    """
    if not package_path.endswith((".json", ".yaml", ".yml")):
        raise ValueError(
            f"Invalid package {package_path!r}: expected a .json (TFX PipelineJob) or .yaml/.yml "
            "(PipelineSpec) file from compile_pipeline."
        )
    if not os.path.isfile(package_path):
        raise ValueError(f"Pipeline package {package_path!r} does not exist.")
    try:
        with open(package_path) as f:
            document = json.load(f) if package_path.endswith(".json") else next(yaml.safe_load_all(f), None)
    except (ValueError, yaml.YAMLError) as e:
        raise ValueError(f"Pipeline package {package_path!r} is not valid JSON/YAML: {e}") from None
    if not isinstance(document, dict):
        raise ValueError(f"Pipeline package {package_path!r} does not hold a pipeline spec.")
    spec = document.get("pipelineSpec", document)
    try:
        json_format.ParseDict(spec, pipeline_spec_pb2.PipelineSpec())
    except json_format.ParseError as e:
        raise ValueError(f"Pipeline package {package_path!r} is not a KFP PipelineSpec: {e}") from None
    if not spec.get("pipelineInfo", {}).get("name"):
        raise ValueError(f"Pipeline package {package_path!r} has no pipelineInfo.name.")
    pipeline_root = document.get("runtimeConfig", {}).get("gcsOutputDirectory") if spec is not document else None
    return PipelinePackage(spec=spec, pipeline_root=pipeline_root or None)


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
