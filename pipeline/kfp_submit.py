"""Submits a compiled pipeline to Kubeflow Pipelines (v2 API) as a run or a recurring run.

`submit(...)` checks everything it can locally first (the cron schedule, the parameters against
the pipeline's declared inputs, the package itself), then probes the host's health endpoint
with a short timeout, so a wrong or unreachable host fails fast with a `SubmitError` that
names it. Only then does it use `kfp.Client`: get or create the experiment, upload the
pipeline (or a new version of it, named after the package's content hash, so resubmitting
the same package reuses its version), and create the run or recurring run.

This module does not import TFX: submitting needs only kfp.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import http.client
import json
import os
import re
import tempfile
import urllib.error
import urllib.request
import warnings
from typing import Any, Dict, Iterator, List, Mapping, Optional, Sequence, Tuple

import kfp
import kfp_server_api
import urllib3
import yaml
from google.protobuf import json_format
from kfp.pipeline_spec import pipeline_spec_pb2

HEALTHZ_PATH = "/apis/v2beta1/healthz"

_CRON_FORM = (
    "Expected a cron expression of 5 fields 'minute hour day-of-month month day-of-week' "
    "(e.g. '0 3 * * *', daily at 03:00) or 6 fields with seconds first "
    "(e.g. '0 0 3 * * *')"
)
_MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
_WEEKDAYS = ("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT")
_CRON_ITEM_RE = re.compile(r"^(\*|\?|[0-9A-Za-z]+(?:-[0-9A-Za-z]+)?)(?:/([0-9]+))?$")


class SubmitError(RuntimeError):
    """The KFP host could not be reached, or it refused a request; the message names the host."""


@dataclasses.dataclass(frozen=True)
class _CronField:
    name: str
    low: int
    high: int
    names: Tuple[str, ...] = ()  # names[i] means low + i
    allows_question_mark: bool = False


# The 6-field order of KFP v2 (robfig/cron): seconds first.
_CRON_FIELDS = (
    _CronField("second", 0, 59),
    _CronField("minute", 0, 59),
    _CronField("hour", 0, 23),
    _CronField("day-of-month", 1, 31, allows_question_mark=True),
    _CronField("month", 1, 12, names=_MONTHS),
    _CronField("day-of-week", 0, 6, names=_WEEKDAYS, allows_question_mark=True),
)


def _cron_value(field: _CronField, token: str) -> Optional[int]:
    """A field value, number or name (JAN, MON), or None when out of range or unknown."""
    if token.isdigit():
        value = int(token)
    elif token.upper() in field.names:
        value = field.low + field.names.index(token.upper())
    else:
        return None
    return value if field.low <= value <= field.high else None


def _cron_item_error(field: _CronField, item: str) -> Optional[str]:
    """Why one comma-separated item of a cron field is invalid, or None when it is valid."""
    match = _CRON_ITEM_RE.match(item)
    allowed = f"{field.low}-{field.high}" + (f" or {field.names[0]}-{field.names[-1]}" if field.names else "")
    if not match:
        return f"{field.name} item {item!r} is not '*', a value, a range 'a-b' or a step '*/n'"
    base, step = match.groups()
    if step is not None and int(step) < 1:
        return f"{field.name} step in {item!r} must be at least 1"
    if base == "?":
        if not field.allows_question_mark or step is not None:
            return f"'?' is only allowed alone in day-of-month or day-of-week, not in {field.name} {item!r}"
        return None
    if base == "*":
        return None
    bounds = [_cron_value(field, token) for token in base.split("-")]
    if any(value is None for value in bounds):
        return f"{field.name} {item!r} is outside {allowed}"
    if len(bounds) == 2 and bounds[0] > bounds[1]:
        return f"{field.name} range {item!r} runs backwards"
    return None


def to_kfp_cron(schedule: str) -> str:
    """Validates a 5- or 6-field cron expression and returns KFP v2's 6-field form.

    KFP v2 schedules with robfig/cron, seconds first; a 5-field expression gets '0 ' in front
    (at second 0). Raises ValueError naming the bad expression and the expected form.
    """
    fields = schedule.split() if isinstance(schedule, str) else []
    if len(fields) == 5:
        fields = ["0"] + fields
    if len(fields) != 6:
        count = len(schedule.split()) if isinstance(schedule, str) else "no"
        raise ValueError(f"Invalid schedule {schedule!r}: it has {count} fields. {_CRON_FORM}.")
    for field, text in zip(_CRON_FIELDS, fields):
        for item in text.split(","):
            error = _cron_item_error(field, item)
            if error:
                raise ValueError(f"Invalid schedule {schedule!r}: {error}. {_CRON_FORM}.")
    return " ".join(fields)


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


def normalize_host(host: str) -> str:
    """'http://localhost:8080/' -> 'http://localhost:8080'; a scheme is required."""
    if not isinstance(host, str) or not re.match(r"^https?://[^/\s]+", host):
        raise ValueError(f"Invalid KFP host {host!r}: expected an http(s) URL, e.g. 'http://localhost:8080'.")
    return host.rstrip("/")


def check_host(host: str, timeout_s: float) -> None:
    """GETs the KFP v2 health endpoint within `timeout_s`; SubmitError naming `host` if that fails.

    Done with urllib before `kfp.Client` is built: the client's own health check retries
    five times with 5 s sleeps, and its requests have no timeout.
    """
    url = host + HEALTHZ_PATH
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # as kfp.Client: no env proxy
    try:
        with opener.open(url, timeout=timeout_s) as response:
            body = response.read(65536)
    except urllib.error.HTTPError as e:
        raise SubmitError(
            f"KFP host {host} answered HTTP {e.code} at {url}: expected the Kubeflow Pipelines v2 "
            "API (KFP >= 2.0). Check the host URL and any auth proxy in front of it."
        ) from None
    except (urllib.error.URLError, OSError, http.client.HTTPException) as e:
        reason = getattr(e, "reason", None) or e
        raise SubmitError(
            f"Cannot reach KFP host {host} ({url}) within {timeout_s:g} s: {reason}. Is the API "
            "server reachable from here (e.g. `kubectl port-forward -n kubeflow svc/ml-pipeline-ui "
            "8080:80` and host 'http://localhost:8080')?"
        ) from None
    try:
        answer = json.loads(body or b"{}")
    except ValueError:
        answer = None
    if not isinstance(answer, dict):
        raise SubmitError(
            f"KFP host {host} did not answer {url} with KFP JSON (got {body[:80]!r}); "
            "is a login page or proxy in front of it?"
        )


@contextlib.contextmanager
def _api_call(host: str, action: str) -> Iterator[None]:
    """Turns the kfp client's errors (ApiException, urllib3 errors) into a SubmitError."""
    try:
        yield
    except kfp_server_api.ApiException as e:
        body = (e.body.decode(errors="replace") if isinstance(e.body, bytes) else str(e.body or "")).strip()
        raise SubmitError(f"KFP at {host} refused {action}: HTTP {e.status} {e.reason}: {body[:300]}") from None
    except (urllib3.exceptions.HTTPError, OSError, http.client.HTTPException) as e:
        raise SubmitError(f"Lost the connection to KFP at {host} while {action}: {e}") from None
    except ValueError as e:  # the client's own checks, e.g. two pipelines with one name
        raise SubmitError(f"KFP at {host}: {action} failed: {e}") from None


def _limit_request_time(client: kfp.Client, timeout_s: float) -> None:
    """Gives every request of `client` a (connect, read) timeout of `timeout_s`.

    kfp.Client's methods pass no `_request_timeout`, so urllib3 would wait forever on a host
    that accepts connections but never answers. All its service APIs share one REST client.
    """
    rest_client = client._run_api.api_client.rest_client  # pylint: disable=protected-access
    request = rest_client.request

    def request_with_timeout(*args: Any, _request_timeout: Any = None, **kwargs: Any) -> Any:
        return request(*args, _request_timeout=_request_timeout or (timeout_s, timeout_s), **kwargs)

    rest_client.request = request_with_timeout


def connect(host: str, timeout_s: float) -> kfp.Client:
    """A `kfp.Client` for a host that `check_host` has just found healthy."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # "This client only works with KFP v2..."
        with _api_call(host, "connecting"):
            client = kfp.Client(host=host)
    _limit_request_time(client, timeout_s)
    return client


def _display_name_filter(name: str) -> str:
    return json.dumps({"predicates": [{"operation": "EQUALS", "key": "display_name", "stringValue": name}]})


def upload(client: kfp.Client, host: str, package_file: str, package: PipelinePackage) -> Tuple[str, str]:
    """Uploads the package and returns (pipeline_id, pipeline_version_id).

    A new pipeline is uploaded whole (the server makes its first version); a known one gets a
    version named '<pipeline>-<content hash>', reused when the same content was uploaded before.
    """
    name = package.name
    with _api_call(host, f"looking up pipeline {name!r}"):
        pipeline_id = client.get_pipeline_id(name)
    if pipeline_id is None:
        with _api_call(host, f"uploading pipeline {name!r}"):
            pipeline_id = client.upload_pipeline(package_file, pipeline_name=name).pipeline_id
        version_filter = None
    else:
        version_filter = _display_name_filter(f"{name}-{package.digest()}")
    with _api_call(host, f"listing versions of pipeline {name!r}"):
        versions = client.list_pipeline_versions(
            pipeline_id, page_size=1, sort_by="created_at desc", filter=version_filter
        ).pipeline_versions
    if versions:
        return pipeline_id, versions[0].pipeline_version_id
    if version_filter is None:
        raise SubmitError(f"KFP at {host} uploaded pipeline {name!r} ({pipeline_id}) but lists no version of it.")
    with _api_call(host, f"uploading a version of pipeline {name!r}"):
        version = client.upload_pipeline_version(
            package_file, pipeline_version_name=f"{name}-{package.digest()}", pipeline_id=pipeline_id
        )
    return pipeline_id, version.pipeline_version_id


def _write_upload_file(package: PipelinePackage, directory: str) -> str:
    """The PipelineSpec as a .yaml file: what kfp.Client and the KFP server take."""
    path = os.path.join(directory, "pipeline.yaml")
    with open(path, "w") as f:
        yaml.safe_dump(package.spec, f, sort_keys=True)
    return path


def _check_names(experiment: str, run_name: str, timeout_s: float) -> None:
    for label, value in (("experiment", experiment), ("run_name", run_name)):
        if not isinstance(value, str) or not value.strip():
            raise ValueError(f"Invalid {label} {value!r}: expected a non-empty name.")
    if not isinstance(timeout_s, (int, float)) or isinstance(timeout_s, bool) or not timeout_s > 0:
        raise ValueError(f"Invalid timeout_s {timeout_s!r}: expected a number of seconds > 0.")


def submit(
    package_path: str,
    host: str,
    experiment: str,
    run_name: str,
    params: Dict[str, str],
    schedule: Optional[str] = None,
    timeout_s: float = 10,
) -> str:
    """Runs a compiled pipeline on KFP at `host` once, or on `schedule`; returns the (recurring) run id.

    `params` are the pipeline's runtime parameters (`parse_params` builds them from 'k=v'),
    typed by their declared types. `schedule` is a 5- or 6-field cron expression (sent to KFP
    in its 6-field form); the recurring run does not backfill missed intervals and runs one at
    a time. The pipeline root of a TFX PipelineJob package becomes the run's pipeline root.
    Raises ValueError for bad arguments (before any network call) and SubmitError when the
    host is unreachable (within `timeout_s`) or refuses a request.
    """
    _check_names(experiment, run_name, timeout_s)
    cron = to_kfp_cron(schedule) if schedule is not None else None
    base = normalize_host(host)
    package = load_package(package_path)
    values = check_params(params or {}, package)

    check_host(base, timeout_s)
    client = connect(base, timeout_s)
    with _api_call(base, f"getting or creating experiment {experiment!r}"):
        experiment_id = client.create_experiment(name=experiment).experiment_id
    with tempfile.TemporaryDirectory() as tmp:
        pipeline_id, version_id = upload(client, base, _write_upload_file(package, tmp), package)
    common = dict(
        experiment_id=experiment_id,
        job_name=run_name,
        params=values,
        pipeline_id=pipeline_id,
        version_id=version_id,
        pipeline_root=package.pipeline_root,
    )
    if cron is None:
        with _api_call(base, f"creating run {run_name!r}"):
            run_id = client.run_pipeline(**common).run_id
    else:
        with _api_call(base, f"creating recurring run {run_name!r} ({cron})"):
            run_id = client.create_recurring_run(
                cron_expression=cron, max_concurrency=1, no_catchup=True, enabled=True, **common
            ).recurring_run_id
    if not run_id:
        raise SubmitError(f"KFP at {base} created {run_name!r} but returned no id.")
    return run_id


__all__: List[str] = ["SubmitError", "PipelinePackage", "parse_params", "to_kfp_cron", "load_package", "submit"]
