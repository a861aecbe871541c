"""The private kfp internal `pipeline/kubeflow/compat.py` uses still exists and is shared as assumed.

A failure here means a kfp upgrade changed it: the message names it, and the fix belongs in
`kubeflow/compat.py` alone.
"""

from __future__ import annotations

import inspect
import types
import warnings

import kfp

from tfx_transfer.pipeline.kubeflow import compat as kfp_compat


def _fail(what: str) -> str:
    return f"kfp internal {kfp_compat.REST_CLIENT} changed: {what}. Update tfx_transfer/pipeline/kubeflow/compat.py."


def _client(monkeypatch) -> kfp.Client:
    """A client for a port nothing listens on; its constructor's health probe is answered here."""
    monkeypatch.setattr(kfp.Client, "get_kfp_healthz", lambda self: types.SimpleNamespace(multi_user=False))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        return kfp.Client(host="http://127.0.0.1:9")


def test_the_rest_client_has_request_with_a_request_timeout():
    from kfp_server_api import rest

    parameters = inspect.signature(rest.RESTClientObject.request).parameters
    assert "_request_timeout" in parameters, _fail(f"RESTClientObject.request takes {list(parameters)}")
    assert "self._run_api" in inspect.getsource(kfp.Client.__init__), _fail("kfp.Client no longer has _run_api")


def test_limit_request_time_reaches_every_service_api(monkeypatch):
    client = _client(monkeypatch)
    rest = kfp_compat.rest_client(client)
    for api in ("_experiment_api", "_pipelines_api", "_upload_api", "_recurring_run_api"):
        assert getattr(client, api).api_client.rest_client is rest, _fail(f"{api} no longer shares the REST client")
    seen = {}
    rest.request = lambda *args, _request_timeout=None, **kwargs: seen.setdefault("timeout", _request_timeout)
    kfp_compat.limit_request_time(client, 3.0)
    client._experiment_api.api_client.rest_client.request("GET", "http://127.0.0.1:9/x")
    assert seen["timeout"] == (3.0, 3.0), _fail(f"the request got timeout {seen.get('timeout')}")


def test_the_client_package_loader_reads_both_documents(tmp_path):
    import yaml

    path = tmp_path / "p.yaml"
    spec = {"pipelineInfo": {"name": "p"}, "root": {}, "schemaVersion": "2.1.0"}
    platform = {"platforms": {"kubernetes": {"deploymentSpec": {"executors": {"e": {"nodeSelector": {"labels": {"a": "b"}}}}}}}}
    with open(path, "w") as f:
        yaml.safe_dump_all([spec, platform], f)
    doc = kfp_compat.load_yaml_package(str(path))
    assert hasattr(doc, "pipeline_spec") and hasattr(doc, "platform_spec"), kfp_compat.PACKAGE_LOADER + " changed shape"
    assert doc.pipeline_spec.pipeline_info.name == "p" and doc.pipeline_spec.schema_version == "2.1.0"
    labels = doc.platform_spec.platforms["kubernetes"].deployment_spec.executors["e"]["nodeSelector"]["labels"]
    assert dict(labels) == {"a": "b"}, f"kfp internal {kfp_compat.PACKAGE_LOADER} no longer reads the PlatformSpec document"
