"""Serving an adapted head only to the images that look like the unlabelled ones.

A run cannot tell from labels whether drifted unlabelled images are the serving domain seen
through a shift (blended, rotated, recoloured images of the same classes) or images the model
will never be asked about (other classes, a wrong folder): on `bench/semi_supervised.py`'s
outliers task, adapting to unrelated images cost 3-27 points on the labelled domain, and no
label-free signal we tried (soft neighbourhood density, reverse validation, a floor on the
labelled rows) told the two apart. Routing needs no such verdict. A domain classifier, a
logistic regression telling the unlabelled rows from the labelled ones on the same cached
features, gives each input the weight w that it belongs to the unlabelled images' domain, and
the served probabilities are

    p(x) = (1 - w(x)) * p_unadapted(x) + w(x) * p_adapted(x).

An input like the labelled images keeps the labelled-only head's answer, so adapting to
unrelated images cannot cost accuracy on the labelled domain; an input like the unlabelled
images gets the adapted answer, so a shifted serving domain keeps the adaptation's gain. The
classifier's intercept is corrected for the two sets' sizes (a prior shift, so w = 1/2 where
both domains are equally likely, whatever the number of unlabelled images).

The router and the mix are built-in Keras layers (no Lambda), so the exported head passes the
plugin's unsafe-model check and serves like any other head.
"""

from __future__ import annotations

import dataclasses
import math
import keras
import numpy as np

from tfx_transfer.trainer.selection import probe
from tfx_transfer.trainer.training import head as head_lib

# The domain classifier's inverse L2 strength (sklearn's C), on the probe's standardisation.
# Strong enough that a classifier fitted on a few dozen labelled rows and thousands of
# unlabelled ones does not memorise rows, weak enough that clearly separable domains (the
# drift check's AUC near 1) get weights near 0 and 1.
ROUTER_C = 0.1
_SUB_HEADS = ("head_unadapted", "head_adapted", "domain_router")


@dataclasses.dataclass(frozen=True)
class Router:
    """The domain classifier: `weights(rows)` is each row's weight of the adapted head."""

    fit: probe.ProbeFit

    def weights(self, features: np.ndarray) -> np.ndarray:
        return self.fit.probabilities(features)[:, 1]


def fit_router(source: np.ndarray, target: np.ndarray, seed: int, blocks: probe.Blocks = None) -> Router:
    """The domain classifier of the labelled `source` rows against the unlabelled `target` rows,
    its intercept corrected so the two domains are equally likely a priori.

    The augmented copies of the labelled rows are left out: near-duplicates of a few dozen rows
    counted as hundreds made the prior correction wrong and the labelled domain's region wider.
    On `bench/semi_supervised.py`'s outliers task (seed 1), held-out labelled-domain images got a
    mean weight of 0.25 with the copies and 0.10 without, and accuracy 92.3 % and 94.3 %."""
    rows = np.concatenate([source, target])
    domains = np.concatenate([np.zeros(len(source), dtype=int), np.ones(len(target), dtype=int)])
    fit = probe.fit_probe(rows, domains, ROUTER_C, seed, 2, blocks)
    prior = math.log(len(target) / len(source))
    return Router(dataclasses.replace(fit, intercept=fit.intercept - prior))


def mix(unadapted: np.ndarray, adapted: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """The routed probabilities: each row's `weights` of `adapted`, the rest of `unadapted`."""
    if not (unadapted.shape == adapted.shape and len(weights) == len(unadapted)):
        raise ValueError(f"Cannot mix probabilities of shapes {unadapted.shape} and {adapted.shape} "
                         f"with {len(weights)} weight(s).")
    return (1.0 - weights[:, None]) * unadapted + weights[:, None] * adapted


def _renamed(head: keras.Model, name: str) -> keras.Model:
    """`head` as a functional model of another name (its layers shared), so two heads of one
    name can sit side by side in the routed head."""
    return keras.Model(head.inputs[0], head.outputs[0], name=name)


def _spread(weights: keras.KerasTensor, column: int, num_classes: int, name: str) -> keras.KerasTensor:
    """Column `column` of the router's [B, 2] output, repeated over `num_classes` columns (a
    fixed Dense layer: built-in, where slicing would need a Lambda)."""
    layer = keras.layers.Dense(num_classes, use_bias=False, trainable=False, dtype="float32", name=name)
    spread = layer(weights)
    kernel = np.zeros((2, num_classes), dtype=np.float32)
    kernel[column] = 1.0
    layer.set_weights([kernel])
    return spread


def routed_head(
    unadapted: keras.Model, adapted: keras.Model, router: Router, num_classes: int, config: head_lib.HeadConfig,
    seed: int,
) -> keras.Model:
    """The head serving `(1 - w) * unadapted + w * adapted`, with w from `router` (see the
    module docstring); input, output and name are those of any head."""
    dim = int(unadapted.inputs[0].shape[-1])
    inputs = keras.Input((dim,), name=head_lib.HEAD_INPUT_NAME)
    domain = probe.probe_head(router.fit, 2, dataclasses.replace(config, dropout=0.0), seed)
    sub_heads = [_renamed(model, name) for model, name in zip((unadapted, adapted, domain), _SUB_HEADS)]
    p_unadapted, p_adapted, weights = (model(inputs) for model in sub_heads)
    terms = [keras.layers.Multiply(dtype="float32", name=f"routed_{i}")([_spread(weights, i, num_classes, f"route_{i}"), p])
             for i, p in enumerate((p_unadapted, p_adapted))]
    outputs = keras.layers.Add(dtype="float32", name=head_lib.OUTPUT_NAMES[1])(terms)
    return keras.Model(inputs, outputs, name=head_lib.HEAD_NAME)
