"""Reads what a local run produced back from MLMD, for the summaries printed to users."""

from __future__ import annotations

from typing import Dict, List, Optional

from ml_metadata.metadata_store import metadata_store
from ml_metadata.proto import metadata_store_pb2

_NODE_CONTEXT_TYPE = "node"


def latest_execution(
    store: metadata_store.MetadataStore, pipeline_name: str, node_id: str
) -> Optional[metadata_store_pb2.Execution]:
    """The newest execution of a pipeline node (TFX names node contexts `<pipeline>.<node>`)."""
    context = store.get_context_by_type_and_name(_NODE_CONTEXT_TYPE, f"{pipeline_name}.{node_id}")
    if context is None:
        return None
    executions = store.get_executions_by_context(context.id)
    return max(executions, key=lambda e: e.id) if executions else None


def execution_outputs(
    store: metadata_store.MetadataStore, execution: metadata_store_pb2.Execution
) -> Dict[str, List[metadata_store_pb2.Artifact]]:
    """Output artifacts of one execution, by output key."""
    events = [
        e for e in store.get_events_by_execution_ids([execution.id])
        if e.type in (metadata_store_pb2.Event.OUTPUT, metadata_store_pb2.Event.DECLARED_OUTPUT)
    ]
    artifacts = {a.id: a for a in store.get_artifacts_by_id([e.artifact_id for e in events])}
    outputs: Dict[str, List[metadata_store_pb2.Artifact]] = {}
    for event in events:
        key = event.path.steps[0].key if event.path.steps else "output"
        outputs.setdefault(key, []).append(artifacts[event.artifact_id])
    return outputs


def state_name(execution: metadata_store_pb2.Execution) -> str:
    return metadata_store_pb2.Execution.State.Name(execution.last_known_state)
