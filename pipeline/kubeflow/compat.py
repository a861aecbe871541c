"""Every use of a private kfp internal, in one place (kfp 2.5).

`tests/pipeline/kubeflow/test_compat.py` checks each one and fails with a message naming it when a
kfp upgrade removes it or changes its shape.

- `load_yaml_package(path)`: how `kfp.Client` reads a YAML package (`_extract_pipeline_yaml`:
  the first YAML document is the PipelineSpec, the others make up the PlatformSpec), so a
  package is checked the way the client will read it.
- `limit_request_time(client, timeout_s)`: `kfp.Client`'s methods pass no `_request_timeout`,
  so urllib3 would wait forever on a host that accepts connections but never answers. All of
  the client's service APIs share one REST client (`client._run_api.api_client.rest_client`),
  whose `request` gets a default (connect, read) timeout here.
"""

from __future__ import annotations

from typing import Any

import kfp

REST_CLIENT = "kfp.Client()._run_api.api_client.rest_client.request(..., _request_timeout=...)"
PACKAGE_LOADER = "kfp.client.client._extract_pipeline_yaml (returns .pipeline_spec, .platform_spec)"


def rest_client(client: kfp.Client) -> Any:
    """The one REST client behind every service API of `client`."""
    return client._run_api.api_client.rest_client  # pylint: disable=protected-access


def limit_request_time(client: kfp.Client, timeout_s: float) -> None:
    """Gives every request of `client` a (connect, read) timeout of `timeout_s`."""
    rest = rest_client(client)
    request = rest.request

    def request_with_timeout(*args: Any, _request_timeout: Any = None, **kwargs: Any) -> Any:
        return request(*args, _request_timeout=_request_timeout or (timeout_s, timeout_s), **kwargs)

    rest.request = request_with_timeout


def load_yaml_package(path: str) -> Any:
    """The package as `kfp.Client` reads it: an object with `.pipeline_spec` and `.platform_spec`."""
    from kfp.client import client as kfp_client

    return kfp_client._extract_pipeline_yaml(path)  # pylint: disable=protected-access
