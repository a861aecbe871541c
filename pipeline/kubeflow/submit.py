"""Submits a compiled pipeline to Kubeflow Pipelines (v2 API) as a run or a recurring run.

`submit(...)` checks everything it can locally first (the cron schedule in `cron`, the
parameters against the pipeline's declared inputs and the package itself in `package`),
then probes the host's health endpoint with a short timeout, so a wrong or unreachable host
fails fast with a `SubmitError` that names it. Only then does it use `kfp.Client`: get or create
the experiment, upload the pipeline (or a new version of it, named after the package's content
hash, so resubmitting the same package reuses its version), and create the run or recurring run.

This module does not import TFX: submitting needs only kfp.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import re
import tempfile
import urllib.error
import urllib.request
import warnings
from typing import Dict, Iterator, Optional, Tuple

import kfp
import kfp_server_api
import urllib3
import yaml

from tfx_transfer.pipeline.kubeflow import compat as kfp_compat
from tfx_transfer.pipeline.kubeflow.cron import to_kfp_cron
from tfx_transfer.pipeline.kubeflow.package import PipelinePackage, check_params, check_pipeline_root, load_package
from tfx_transfer.pipeline.kubeflow.resources import TARGET_KUBEFLOW

HEALTHZ_PATH = "/apis/v2beta1/healthz"


class SubmitError(RuntimeError):
    """The KFP host could not be reached, or it refused a request; the message names the host."""


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


def connect(host: str, timeout_s: float) -> kfp.Client:
    """A `kfp.Client` for a host that `check_host` has just found healthy."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # "This client only works with KFP v2..."
        with _api_call(host, "connecting"):
            client = kfp.Client(host=host)
    kfp_compat.limit_request_time(client, timeout_s)
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
    """The PipelineSpec (and PlatformSpec) as a .yaml file: what kfp.Client and the KFP server take."""
    path = os.path.join(directory, "pipeline.yaml")
    with open(path, "w") as f:
        yaml.safe_dump_all(package.documents(), f, sort_keys=True)
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
    pipeline_root: Optional[str] = None,
) -> str:
    """Runs a compiled pipeline on KFP at `host` once, or on `schedule`; returns the (recurring) run id.

    `params` are the pipeline's runtime parameters (`parse_params` builds them from 'k=v'),
    typed by their declared types. `schedule` is a 5- or 6-field cron expression (sent to KFP
    in its 6-field form); the recurring run does not backfill missed intervals and runs one at
    a time. The pipeline root of a TFX PipelineJob package becomes the run's pipeline root.
    The run's pipeline root is `pipeline_root`, else the package's own (`defaultPipelineRoot`),
    and is always sent explicitly: the server's default (`minio://`) is no place TFX steps can
    write. Raises ValueError for bad arguments (before any network call) and SubmitError when
    the host is unreachable (within `timeout_s`) or refuses a request.
    """
    _check_names(experiment, run_name, timeout_s)
    cron = to_kfp_cron(schedule) if schedule is not None else None
    base = normalize_host(host)
    package = load_package(package_path)
    values = check_params(params or {}, package)
    root = pipeline_root or package.pipeline_root
    if not root:
        raise ValueError(
            f"Pipeline package {package_path!r} names no pipeline root; give one (--pipeline-root gs://BUCKET/PATH)."
        )
    check_pipeline_root(root, TARGET_KUBEFLOW)

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
        pipeline_root=root,
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


