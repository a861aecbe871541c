"""The Transform step's `preprocessing_fn`: a label vocabulary; images pass through as bytes.

Decoded pixels never go into Transform's outputs (they would multiply storage about 20-fold);
decoding happens in `trainer.data.preprocessing`, shared by extraction, fine-tuning and serving.
Referenced by module path (`preprocessing_fn=PREPROCESSING_FN`), so TFX builds no wheel for it.
"""

from __future__ import annotations

from typing import Any, Dict

import tensorflow_transform as tft

PREPROCESSING_FN = "tfx_transfer.pipeline.transform.preprocessing_fn"
IMAGE_KEY = "image"
LABEL_KEY = "label"
ID_KEY = "id"
# The vocabulary file FineTuner reads the class names from: transform_fn/assets/label.
LABEL_VOCABULARY = "label"


def preprocessing_fn(inputs: Dict[str, Any]) -> Dict[str, Any]:
    """Maps the label to its index in the Transform vocabulary; keeps image and id bytes.

    TF Transform orders the vocabulary by frequency (ties by value). FineTuner names its output
    classes from the same vocabulary file, so indices and names always agree.
    """
    outputs = {key: inputs[key] for key in (IMAGE_KEY, ID_KEY) if key in inputs}
    outputs[LABEL_KEY] = tft.compute_and_apply_vocabulary(inputs[LABEL_KEY], vocab_filename=LABEL_VOCABULARY)
    return outputs
