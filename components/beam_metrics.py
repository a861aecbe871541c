"""Naming of the Beam counters the plugin's transforms report."""


def counter_name(kind: str, split: str) -> str:
    """Counter names are `<kind>[<split>]`, e.g. `examples_in[train]`, so one query finds a split."""
    return f"{kind}[{split}]"
