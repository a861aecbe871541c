"""kfp_submit against a fake KFP v2beta1 API server on 127.0.0.1: request shapes and errors."""

from __future__ import annotations

import dataclasses
import email.parser
import email.policy
import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Dict, Iterator, List, Optional, Set, Tuple
from urllib.parse import parse_qs, urlsplit

import pytest
import yaml

from tfx_transfer.pipeline.kubeflow import package as kfp_package, submit as kfp_submit
from tfx_transfer.pipeline.kubeflow.submit import SubmitError

API = "/apis/v2beta1"
PIPELINE_NAME = "tfx-transfer-test"
PIPELINE_ROOT = "gs://bucket/root"

PIPELINE_SPEC: Dict[str, Any] = {
    "pipelineInfo": {"name": PIPELINE_NAME},
    "schemaVersion": "2.0.0",
    "sdkVersion": "tfx-1.16.0",
    "components": {"Hello": {"executorLabel": "Hello_executor"}},
    "deploymentSpec": {
        "executors": {"Hello_executor": {"container": {"image": "img:1", "command": ["echo"], "args": ["hi"]}}}
    },
    "root": {
        "dag": {"tasks": {"Hello": {"taskInfo": {"name": "Hello"}, "componentRef": {"name": "Hello"}}}},
        "inputDefinitions": {"parameters": {"epochs": {"type": "INT"}, "note": {"type": "STRING"}}},
    },
}


@dataclasses.dataclass
class Request:
    method: str
    path: str
    query: Dict[str, str]
    body: bytes
    content_type: str

    def json(self) -> Dict[str, Any]:
        return json.loads(self.body)

    def multipart(self) -> Dict[str, Tuple[Optional[str], bytes]]:
        """Form field name -> (file name, content) of a multipart/form-data body."""
        message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
            f"Content-Type: {self.content_type}\r\n\r\n".encode() + self.body
        )
        return {
            part.get_param("name", header="content-disposition"): (part.get_filename(), part.get_payload(decode=True))
            for part in message.iter_parts()
        }


class FakeKfp:
    """The KFP v2beta1 endpoints kfp.Client calls for submit(), with in-memory state."""

    def __init__(self) -> None:
        self.requests: List[Request] = []
        self.experiments: List[Dict[str, Any]] = []
        self.pipelines: List[Dict[str, Any]] = []
        self.versions: Dict[str, List[Dict[str, Any]]] = {}
        self.fail_paths: Set[str] = set()
        self.url = ""

    def find(self, method: str, path: str) -> List[Request]:
        return [r for r in self.requests if r.method == method and r.path == path]

    @staticmethod
    def _by_display_name(items: List[Dict[str, Any]], query: Dict[str, str]) -> List[Dict[str, Any]]:
        if "filter" not in query:
            return items
        (predicate,) = json.loads(query["filter"])["predicates"]
        assert predicate["key"] == "display_name" and predicate["operation"] in (1, "EQUALS")
        return [item for item in items if item["display_name"] == predicate["stringValue"]]

    def _new_version(self, pipeline_id: str, name: str) -> Dict[str, Any]:
        number = sum(map(len, self.versions.values())) + 1
        version = {"pipeline_id": pipeline_id, "pipeline_version_id": f"pv-{number}", "display_name": name}
        self.versions.setdefault(pipeline_id, []).append(version)
        return version

    def answer(self, r: Request) -> Tuple[int, Dict[str, Any]]:
        """(HTTP status, JSON body) for one request."""
        if r.path in self.fail_paths:
            return 400, {"error": "invalid request", "code": 3, "message": "invalid request"}
        route = (r.method, r.path)
        if route == ("GET", f"{API}/healthz"):
            return 200, {"multi_user": False}
        if route == ("GET", f"{API}/experiments"):
            found = self._by_display_name(self.experiments, r.query)
            return 200, {"experiments": found, "total_size": len(found)} if found else {}
        if route == ("POST", f"{API}/experiments"):
            experiment = {**r.json(), "experiment_id": f"exp-{len(self.experiments) + 1}"}
            self.experiments.append(experiment)
            return 200, experiment
        if route == ("GET", f"{API}/pipelines"):
            found = self._by_display_name(self.pipelines, r.query)
            return 200, {"pipelines": found, "total_size": len(found)} if found else {}
        if route == ("POST", f"{API}/pipelines/upload"):
            pipeline = {"pipeline_id": f"pl-{len(self.pipelines) + 1}", "display_name": r.query["name"]}
            self.pipelines.append(pipeline)
            self._new_version(pipeline["pipeline_id"], r.query["name"])
            return 200, pipeline
        if route == ("POST", f"{API}/pipelines/upload_version"):
            return 200, self._new_version(r.query["pipelineid"], r.query["name"])
        if r.method == "GET" and r.path.startswith(f"{API}/pipelines/") and r.path.endswith("/versions"):
            versions = self._by_display_name(list(reversed(self.versions.get(r.path.split("/")[-2], []))), r.query)
            versions = versions[: int(r.query.get("page_size", "10"))]
            return 200, {"pipeline_versions": versions, "total_size": len(versions)} if versions else {}
        if route == ("POST", f"{API}/runs"):
            return 200, {**r.json(), "run_id": f"run-{len(self.find('POST', r.path))}", "state": "PENDING"}
        if route == ("POST", f"{API}/recurringruns"):
            return 200, {**r.json(), "recurring_run_id": f"rr-{len(self.find('POST', r.path))}", "status": "ENABLED"}
        return 404, {"error": "Not Found", "code": 5, "message": "Not Found"}


def _handler(fake: FakeKfp) -> type:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: Any) -> None:  # keep pytest output clean
            pass

        def _serve(self) -> None:
            url = urlsplit(self.path)
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            query = {k: v[0] for k, v in parse_qs(url.query, keep_blank_values=True).items()}
            request = Request(self.command, url.path, query, body, self.headers.get("Content-Type", ""))
            fake.requests.append(request)
            status, answer = fake.answer(request)
            data = json.dumps(answer).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = _serve

    return Handler


@pytest.fixture
def fake_kfp() -> Iterator[FakeKfp]:
    """A FakeKfp served on a free port of 127.0.0.1, stopped after the test."""
    fake = FakeKfp()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(fake))
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    fake.url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        yield fake
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


@pytest.fixture
def package(tmp_path) -> str:
    """A TFX-style PipelineJob JSON: the PipelineSpec under `pipelineSpec`, plus the pipeline root."""
    path = tmp_path / "pipeline.json"
    job = {"displayName": PIPELINE_NAME, "pipelineSpec": PIPELINE_SPEC,
           "runtimeConfig": {"gcsOutputDirectory": PIPELINE_ROOT}}
    path.write_text(json.dumps(job))
    return str(path)


def closed_port() -> int:
    """A port on 127.0.0.1 that nothing listens on."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_submit_uploads_pipeline_and_creates_run(fake_kfp, package):
    run_id = kfp_submit.submit(package, fake_kfp.url, "exp", "run one", {"epochs": "3", "note": "hi"})

    assert run_id == "run-1"
    assert all(r.path.startswith(f"{API}/") for r in fake_kfp.requests)
    assert (fake_kfp.requests[0].method, fake_kfp.requests[0].path) == ("GET", f"{API}/healthz")
    (created,) = fake_kfp.find("POST", f"{API}/experiments")
    assert created.json()["display_name"] == "exp"

    (upload,) = fake_kfp.find("POST", f"{API}/pipelines/upload")
    assert upload.query["name"] == PIPELINE_NAME
    assert upload.content_type.startswith("multipart/form-data")
    file_name, content = upload.multipart()["uploadfile"]
    assert file_name.endswith(".yaml")
    assert yaml.safe_load(content) == PIPELINE_SPEC  # the bare PipelineSpec, not the PipelineJob

    (run,) = fake_kfp.find("POST", f"{API}/runs")
    body = run.json()
    assert body["experiment_id"] == "exp-1"
    assert body["display_name"] == "run one"
    assert body["pipeline_version_reference"] == {"pipeline_id": "pl-1", "pipeline_version_id": "pv-1"}
    assert body["runtime_config"] == {"parameters": {"epochs": 3, "note": "hi"}, "pipeline_root": PIPELINE_ROOT}
    assert "pipeline_spec" not in body
    assert not fake_kfp.find("POST", f"{API}/recurringruns")


def test_resubmitting_reuses_experiment_pipeline_and_version(fake_kfp, package):
    kfp_submit.submit(package, fake_kfp.url, "exp", "first", {})
    second = kfp_submit.submit(package, fake_kfp.url, "exp", "second", {})
    third = kfp_submit.submit(package, fake_kfp.url, "exp", "third", {})

    assert (second, third) == ("run-2", "run-3")
    assert len(fake_kfp.find("POST", f"{API}/experiments")) == 1
    assert len(fake_kfp.find("POST", f"{API}/pipelines/upload")) == 1
    (version_upload,) = fake_kfp.find("POST", f"{API}/pipelines/upload_version")
    digest = kfp_package.load_package(package).digest()
    assert version_upload.query == {"name": f"{PIPELINE_NAME}-{digest}", "pipelineid": "pl-1"}
    runs = [r.json() for r in fake_kfp.find("POST", f"{API}/runs")]
    assert [run["pipeline_version_reference"]["pipeline_version_id"] for run in runs] == ["pv-1", "pv-2", "pv-2"]
    assert {run["experiment_id"] for run in runs} == {"exp-1"}


def test_schedule_creates_recurring_run_with_six_field_cron(fake_kfp, package):
    recurring_id = kfp_submit.submit(package, fake_kfp.url, "nightly", "nightly run", {"epochs": "5"},
                                     schedule="0 3 * * *")

    assert recurring_id == "rr-1"
    assert not fake_kfp.find("POST", f"{API}/runs")
    (recurring,) = fake_kfp.find("POST", f"{API}/recurringruns")
    body = recurring.json()
    assert body["trigger"] == {"cron_schedule": {"cron": "0 0 3 * * *"}}
    assert body["experiment_id"] == "exp-1"
    assert body["display_name"] == "nightly run"
    assert body["mode"] == "ENABLE"
    assert int(body["max_concurrency"]) == 1
    assert body["no_catchup"] is True
    assert body["pipeline_version_reference"] == {"pipeline_id": "pl-1", "pipeline_version_id": "pv-1"}
    assert body["runtime_config"]["parameters"] == {"epochs": 5}


@pytest.mark.parametrize(
    "schedule",
    ["0 3 * *", "* * * * * * *", "daily", "", "61 * * * *", "0 25 * * *", "0 3 * * MON-XYZ",
     "*/0 * * * *", "5-1 * * * *", "? * * * *", "0 3 32 * *", "0 3 * 13 *", "0 3 * * 7"],
)
def test_bad_cron_fails_before_any_request(fake_kfp, package, schedule):
    with pytest.raises(ValueError, match=r"Invalid schedule .*Expected a cron expression .*'0 3 \* \* \*'") as error:
        kfp_submit.submit(package, fake_kfp.url, "exp", "run", {}, schedule=schedule)
    assert repr(schedule) in str(error.value)
    assert fake_kfp.requests == []


@pytest.mark.parametrize(
    "params, message",
    [({"epoch": "3"}, r"no runtime parameter\(s\) \['epoch'\]; it declares \['epochs', 'note'\]"),
     ({"epochs": "three"}, r"epochs='three' is not a valid INT")],
)
def test_bad_params_fail_before_any_request(fake_kfp, package, params, message):
    with pytest.raises(ValueError, match=message):
        kfp_submit.submit(package, fake_kfp.url, "exp", "run", params)
    assert fake_kfp.requests == []


def test_unreachable_host_raises_submit_error_quickly(package):
    host = f"http://127.0.0.1:{closed_port()}"
    start = time.monotonic()
    with pytest.raises(SubmitError, match=f"Cannot reach KFP host {host}") as error:
        kfp_submit.submit(package, host, "exp", "run", {}, timeout_s=2)
    assert time.monotonic() - start < 2
    assert error.value.__cause__ is None and error.value.__suppress_context__  # no urllib3 traceback


def test_silent_host_times_out_with_submit_error(package):
    with socket.socket() as listener:  # accepts connections (backlog) but never answers
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        host = f"http://127.0.0.1:{listener.getsockname()[1]}"
        start = time.monotonic()
        with pytest.raises(SubmitError, match=f"Cannot reach KFP host {host}.*within 0.5 s"):
            kfp_submit.submit(package, host, "exp", "run", {}, timeout_s=0.5)
        assert time.monotonic() - start < 3


def test_host_without_kfp_v2_api_raises_submit_error(fake_kfp, package):
    host = fake_kfp.url + "/not-kfp"
    with pytest.raises(SubmitError, match=f"KFP host {host} answered HTTP 404"):
        kfp_submit.submit(package, host, "exp", "run", {})
    assert len(fake_kfp.requests) == 1


def test_refused_request_raises_submit_error_naming_host(fake_kfp, package):
    fake_kfp.fail_paths.add(f"{API}/runs")
    with pytest.raises(SubmitError, match=f"KFP at {fake_kfp.url} refused creating run 'run': HTTP 400"):
        kfp_submit.submit(package, fake_kfp.url, "exp", "run", {})


@pytest.mark.parametrize("host", ["localhost:8080", "", "ftp://127.0.0.1"])
def test_host_without_scheme_raises(package, host):
    with pytest.raises(ValueError, match="Invalid KFP host .*'http://localhost:8080'"):
        kfp_submit.submit(package, host, "exp", "run", {})


def test_load_package_takes_bare_yaml_spec_and_rejects_others(tmp_path):
    path = tmp_path / "pipeline.yaml"
    path.write_text("# PIPELINE DEFINITION\n" + yaml.safe_dump(PIPELINE_SPEC))
    loaded = kfp_package.load_package(str(path))
    assert (loaded.name, loaded.pipeline_root, loaded.spec) == (PIPELINE_NAME, None, PIPELINE_SPEC)

    not_spec = tmp_path / "other.json"
    not_spec.write_text(json.dumps({"pipelineInfo": {"name": "x"}, "bogus": 1}))
    with pytest.raises(ValueError, match="is not a KFP PipelineSpec"):
        kfp_package.load_package(str(not_spec))
    with pytest.raises(ValueError, match="does not exist"):
        kfp_package.load_package(str(tmp_path / "missing.json"))
    with pytest.raises(ValueError, match=r"expected a \.yaml/\.yml \(PipelineSpec, from compile\) or \.json"):
        kfp_package.load_package(str(tmp_path / "pipeline.tar.gz"))


PLATFORM_SPEC = {"platforms": {"kubernetes": {"deploymentSpec": {"executors": {"Hello_executor": {
    "tolerations": [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}]}}}}}}


@pytest.fixture
def yaml_package(tmp_path) -> str:
    """What `compile` writes for open-source KFP: the PipelineSpec with its root, then the PlatformSpec."""
    path = tmp_path / "pipeline.yaml"
    with open(path, "w") as f:
        yaml.safe_dump_all([{**PIPELINE_SPEC, "defaultPipelineRoot": PIPELINE_ROOT}, PLATFORM_SPEC], f)
    return str(path)


@pytest.mark.parametrize("schedule", [None, "0 3 * * *"])
def test_a_yaml_package_is_uploaded_whole_with_an_explicit_root(fake_kfp, yaml_package, schedule):
    kfp_submit.submit(yaml_package, fake_kfp.url, "exp", "run", {}, schedule=schedule)
    (upload,) = fake_kfp.find("POST", f"{API}/pipelines/upload")
    file_name, content = upload.multipart()["uploadfile"]
    assert file_name.endswith(".yaml")
    assert list(yaml.safe_load_all(content)) == [{**PIPELINE_SPEC, "defaultPipelineRoot": PIPELINE_ROOT}, PLATFORM_SPEC]
    (created,) = fake_kfp.find("POST", f"{API}/runs" if schedule is None else f"{API}/recurringruns")
    assert created.json()["runtime_config"]["pipeline_root"] == PIPELINE_ROOT


def test_the_pipeline_root_can_be_given_and_must_be_writable(fake_kfp, yaml_package, tmp_path):
    kfp_submit.submit(yaml_package, fake_kfp.url, "exp", "run", {}, pipeline_root="s3://other/root")
    (run,) = fake_kfp.find("POST", f"{API}/runs")
    assert run.json()["runtime_config"]["pipeline_root"] == "s3://other/root"
    with pytest.raises(ValueError, match="no minio:// filesystem"):
        kfp_submit.submit(yaml_package, fake_kfp.url, "exp", "run", {}, pipeline_root="minio://mlpipeline/v2/artifacts")
    rootless = tmp_path / "rootless.yaml"
    rootless.write_text(yaml.safe_dump(PIPELINE_SPEC))
    with pytest.raises(ValueError, match=r"names no pipeline root; give one \(--pipeline-root gs://BUCKET/PATH\)"):
        kfp_submit.submit(str(rootless), fake_kfp.url, "exp", "run", {})
    assert len(fake_kfp.find("POST", f"{API}/runs")) == 1
