"""Every use of a private kfp internal, in one place (kfp 2.5).

`tests/pipeline/test_kfp_compat.py` checks each one and fails with a message naming it when a
kfp upgrade removes it or changes its shape.

- `limit_request_time(client, timeout_s)`: `kfp.Client`'s methods pass no `_request_timeout`,
  so urllib3 would wait forever on a host that accepts connections but never answers. All of
  the client's service APIs share one REST client (`client._run_api.api_client.rest_client`),
  whose `request` gets a default (connect, read) timeout here.
"""

from __future__ import annotations

from typing import Any

import kfp

REST_CLIENT = "kfp.Client()._run_api.api_client.rest_client.request(..., _request_timeout=...)"


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
