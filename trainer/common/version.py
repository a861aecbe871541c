"""The installed plugin version; part of every cache fingerprint, so upgrades re-run work."""

import importlib.metadata


def plugin_version() -> str:
    try:
        return importlib.metadata.version("tfx-transfer")
    except importlib.metadata.PackageNotFoundError:  # Running from a source tree.
        return "0+source"
