"""The Evaluator's baseline: the latest blessed model that is not the candidate itself.

TFX's LatestBlessedModelStrategy returns the newest blessed model, which after a run that
blessed the candidate *is* the candidate: the next unchanged run would then compare the model
with itself, and, because its baseline input moved, re-run Evaluator and Pusher for nothing.
Excluding the candidate keeps the comparison meaningful ("better than the last blessed
model") and keeps an unchanged re-run a full cache hit.
"""

from __future__ import annotations

from typing import Dict, List, Optional

from tfx import types
from tfx.components.evaluator import constants as evaluator_constants
from tfx.dsl.components.common import resolver

CANDIDATE_KEY = "candidate"
MODEL_KEY = "model"
BLESSING_KEY = "model_blessing"


class LatestBlessedBaselineStrategy(resolver.ResolverStrategy):
    """Resolves `model`/`model_blessing` to the newest blessed model other than `candidate`."""

    def resolve_artifacts(
        self, store, input_dict: Dict[str, List[types.Artifact]]
    ) -> Optional[Dict[str, List[types.Artifact]]]:
        candidates = {artifact.id for artifact in input_dict.get(CANDIDATE_KEY, [])}
        blessed = {
            blessing.get_int_custom_property(evaluator_constants.ARTIFACT_PROPERTY_CURRENT_MODEL_ID_KEY): blessing
            for blessing in input_dict.get(BLESSING_KEY, [])
            if blessing.get_int_custom_property(evaluator_constants.ARTIFACT_PROPERTY_BLESSED_KEY) == 1
        }
        result: Dict[str, List[types.Artifact]] = {
            CANDIDATE_KEY: list(input_dict.get(CANDIDATE_KEY, [])), MODEL_KEY: [], BLESSING_KEY: []
        }
        for model in sorted(input_dict.get(MODEL_KEY, []), key=lambda a: a.id, reverse=True):
            if model.id in blessed and model.id not in candidates:
                result[MODEL_KEY] = [model]
                result[BLESSING_KEY] = [blessed[model.id]]
                break
        return result
