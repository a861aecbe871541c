"""The PushedBaseline's one typed config (encoded by `config_codec`)."""

from __future__ import annotations

import dataclasses

from tfx_transfer.components.config_codec import FlatConfig


@dataclasses.dataclass(frozen=True)
class BaselineConfig(FlatConfig):
    """Where the Pusher pushes: the filesystem `base_directory` of its push destination."""

    push_destination: str

    def __post_init__(self) -> None:
        if not isinstance(self.push_destination, str) or not self.push_destination:
            raise ValueError(
                f"push_destination={self.push_destination!r} is invalid; valid values are the Pusher's "
                "filesystem base_directory, a local or gs:// folder."
            )
