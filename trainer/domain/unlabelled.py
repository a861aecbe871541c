"""What a run does with unlabelled images: check drift, then semi-supervise or adapt, and choose.

`use_unlabelled` runs the drift check (`drift.check_drift`) on the chosen cut's bottlenecks,
then `route` picks the path:

- **no drift** (the same domain): semi-supervision (`semi_supervised`), kept only when it beats
  the labelled-only head on the labelled validation rows;
- **drift** (or 'adapt', whatever the drift check says): candidates that need no target labels
  to train are compared without target labels (`label_free`): the unadapted head, the head
  adapted with `adaptation.AUTO_METHOD` (MCC), the aligned probe (`alignment`, each domain
  standardised by its own statistics) and the aligned probe refitted with labels spread to the
  unlabelled images, one per `semi_supervised.SETTINGS`. An adapted candidate whose accuracy on
  the labelled validation rows falls more than `FLOOR_STANDARD_ERRORS` paired standard errors
  below the unadapted head's is out (the floor); of the rest, the highest soft neighbourhood
  density on the unlabelled images wins (`pick`); with none left, the head stays unadapted.
  The winner is served through a domain router (`routing`): inputs that look like the
  unlabelled images get the adapted head's answer, inputs that look like the labelled images
  the unadapted head's. The labelled rows cannot tell a shifted serving domain from unlabelled
  images of other classes (on `bench/semi_supervised.py`'s outliers task every label-free
  choice cost 3-27 points on the labelled domain when it served every input); the router makes
  that question moot.

The record (`strategy.json`'s `adaptation`) keeps every candidate's figures, the router's and
`decided_by`, the signal that decided.
"""

from __future__ import annotations

import dataclasses
import math
import time
from typing import Any, Callable, Dict, List, Optional

import keras
import numpy as np

from tfx_transfer.trainer.common import checks
from tfx_transfer.trainer.domain import adaptation, alignment, drift, label_free, routing, semi_supervised
from tfx_transfer.trainer.selection import gate, probe, validation
from tfx_transfer.trainer.training import head as head_lib
from tfx_transfer.trainer.selection.strategy import (
    ADAPTATION_ADAPT, ADAPTATION_ALIGN, ADAPTATION_AUTO, ADAPTATION_DANN, ADAPTATION_MCC, ADAPTATION_SEMI_SUPERVISED,
)

# Fewer unlabelled images than this are not used: a handful of images say little about a domain
# or its clusters, and the drift check that decides 'auto' is least reliable there.
MIN_UNLABELLED_ROWS = 50

# Which signal decided what the unlabelled images did (`decided_by` in strategy.json).
DECIDED_BY_COUNT = "too few unlabelled images"
DECIDED_BY_REQUEST = "asked for"
DECIDED_BY_DRIFT = "drift check"
DECIDED_BY_SEMI = "drift check (no drift), then accuracy on the labelled validation rows"
DECIDED_BY_LABEL_FREE = ("soft neighbourhood density on the unlabelled images, among the adapted candidates within "
                         "two paired standard errors of the unadapted head on the labelled validation rows")
DECIDED_BY_DRIFT_ADAPT = f"drift check (drift), then {DECIDED_BY_LABEL_FREE}"
UNADAPTED = "unadapted"
# How far below the unadapted head's accuracy on the labelled rows the served model of a
# candidate may fall, in paired standard errors (the gate's bar): adapting to a shifted domain
# costs some accuracy on the labelled domain (on `bench/domain_adaptation.py`'s blend task MCC
# lost 2 points there while it gained 6 on the serving images, and one standard error let no
# candidate through), while the failure this floor guards SND against, a model that predicts
# one class for every image, falls far below it.
FLOOR_STANDARD_ERRORS = gate.LEAD_STANDARD_ERRORS


@dataclasses.dataclass(frozen=True)
class HeadFit:
    """The labelled-only head of the run and what the other paths refit it with: its
    out-of-fold probabilities on the plan, the probe's C and the combined cut's blocks, the
    augmented copies (None: none), and whether the head is the probe (an MLP head is not refitted)."""

    head: keras.Model
    probabilities: Optional[np.ndarray]
    C: float
    blocks: probe.Blocks = None
    copies: Optional[np.ndarray] = None
    is_probe: bool = True


@dataclasses.dataclass(frozen=True)
class Outcome:
    """The head to export (None: keep the labelled-only head), its out-of-fold probabilities,
    what `strategy.json` records, and a sentence for the reasons."""

    head: Optional[keras.Model]
    probabilities: Optional[np.ndarray]
    record: Dict[str, Any]
    reason: str


def route(requested: str, drifted: bool, head_fit: HeadFit) -> Optional[str]:
    """The path of a run: under 'auto', the routed label-free choice ('adapt') with drift and
    semi-supervision without (only the probe head is refitted; None for an MLP head); any other
    value as asked."""
    if requested != ADAPTATION_AUTO:
        return requested
    if drifted:
        return ADAPTATION_ADAPT
    return ADAPTATION_SEMI_SUPERVISED if head_fit.is_probe else None


def use_unlabelled(
    requested: str, features: np.ndarray, labels: np.ndarray, target: np.ndarray, num_classes: int,
    plan: validation.ValidationPlan, head_fit: HeadFit, config: head_lib.HeadConfig, seed: int,
) -> Outcome:
    """Uses the unlabelled `target` rows in a run, as `requested` (see the module docstring).

    Fewer than `MIN_UNLABELLED_ROWS` rows are not used, whatever was asked, and the reason says
    so. 'dann', 'mcc', 'align' and 'semi_supervised' are used as asked; the no-transfer gate
    still judges the result afterwards.
    """
    start = time.perf_counter()
    if len(target) < MIN_UNLABELLED_ROWS:
        record: Dict[str, Any] = {"requested": requested, "unlabelled_rows": int(len(target)), "method": None,
                                  "kept": False, "decided_by": DECIDED_BY_COUNT, "seconds": 0.0}
        return Outcome(None, None, record, f"Adaptation {requested!r}: {len(target)} unlabelled image(s) are too few to "
                       f"use (at least {MIN_UNLABELLED_ROWS}); the model was trained on the labelled images alone. "
                       f"Give at least {MIN_UNLABELLED_ROWS} unlabelled images to use them.")
    check = drift.check_drift(features, target, seed=seed)
    record = {"requested": requested, "unlabelled_rows": int(len(target)), "drift": check.to_dict()}
    path = route(requested, check.drift, head_fit)
    record["decided_by"] = ({ADAPTATION_ADAPT: DECIDED_BY_LABEL_FREE}.get(requested, DECIDED_BY_REQUEST)
                            if requested != ADAPTATION_AUTO else
                            {None: DECIDED_BY_DRIFT, ADAPTATION_SEMI_SUPERVISED: DECIDED_BY_SEMI,
                             ADAPTATION_ADAPT: DECIDED_BY_DRIFT_ADAPT}[path])
    data = _Data(features, labels, target, num_classes, plan, head_fit, config, seed)
    if path is None:
        outcome = Outcome(None, None, {**record, "method": None, "kept": False},
                          f"Adaptation 'auto': {check.reason} The head (an MLP: head_units) was not refitted with the "
                          "unlabelled images; only the probe head is.")
    elif path == ADAPTATION_SEMI_SUPERVISED:
        outcome = _semi_supervise(requested, data, record, check.reason)
    else:
        outcome = _choose_adapted(path, data, record, check.reason)
    outcome.record["seconds"] = round(time.perf_counter() - start, 2)
    return outcome


@dataclasses.dataclass(frozen=True)
class _Data:
    features: np.ndarray
    labels: np.ndarray
    target: np.ndarray
    num_classes: int
    plan: validation.ValidationPlan
    head_fit: HeadFit
    config: head_lib.HeadConfig
    seed: int


def _semi_supervise(requested: str, data: _Data, record: Dict[str, Any], drift_reason: str) -> Outcome:
    """`semi_supervised.semi_supervise`, as an `Outcome` of the run."""
    fit = data.head_fit
    outcome = semi_supervised.semi_supervise(
        data.features, data.labels, data.target, data.num_classes, data.plan, fit.probabilities, fit.C, data.seed,
        fit.blocks, fit.copies, forced=requested == ADAPTATION_SEMI_SUPERVISED,
    )
    record.update(method=ADAPTATION_SEMI_SUPERVISED, semi_supervised=outcome.record, kept=outcome.record["kept"])
    reason = f"{drift_reason} {outcome.reason}" if requested == ADAPTATION_AUTO else outcome.reason
    if outcome.fit is None:
        return Outcome(None, None, record, reason)
    head = probe.probe_head(outcome.fit, data.num_classes, data.config, data.seed)
    return Outcome(head, outcome.probabilities, record, reason)


# --------------------------------------------------------------------------------------- a shifted domain


@dataclasses.dataclass
class _Candidate:
    """One way to serve the shifted domain: its out-of-fold probabilities on the labelled
    validation rows, its probabilities on the unlabelled rows, and how to build its head."""

    name: str
    probabilities: Optional[np.ndarray]
    target_probabilities: np.ndarray
    build: Callable[[], keras.Model]
    figures: Dict[str, Any] = dataclasses.field(default_factory=dict)


def _head_candidate(method: str, data: _Data) -> _Candidate:
    """The head adapted with DANN or MCC (`adaptation.adapt`), with the domain classifier's
    AUC on its predictions against the unadapted head's."""
    features, labels, copies = data.features, data.labels, data.head_fit.copies

    def adapt(rows: np.ndarray) -> adaptation.Adapted:
        return adaptation.adapt(*probe.with_copies(features, labels, rows, copies), data.target, data.num_classes,
                                method, data.config, data.seed)

    probabilities = (validation.out_of_fold(data.plan, len(labels), lambda train, val: adapt(train).head.predict(
        features[val], verbose=0)) if data.plan.usable else None)
    adapted = adapt(np.arange(len(labels)))
    auc_before, auc_after = (drift.domain_auc(model.predict(features, verbose=0), model.predict(data.target, verbose=0),
                                              data.seed) for model in (data.head_fit.head, adapted.head))
    figures = {"prediction_domain_auc_unadapted": auc_before, "prediction_domain_auc_adapted": auc_after,
               "domain_accuracy_start": checks.finite_or_none(adapted.domain_accuracy_start),
               "domain_accuracy_end": checks.finite_or_none(adapted.domain_accuracy_end), "steps": adaptation.ADAPTER_STEPS}
    return _Candidate(method, probabilities, adapted.head.predict(data.target, verbose=0), lambda: adapted.head, figures)


def _aligned_candidate(data: _Data, spread: Optional[semi_supervised.Setting]) -> _Candidate:
    """The aligned probe (`alignment.fit_aligned`), with labels spread by `spread` or none."""
    fit, features, labels = data.head_fit, data.features, data.labels

    def aligned(rows: np.ndarray) -> alignment.AlignedFit:
        copies = fit.copies[:, rows] if fit.copies is not None else None
        return alignment.fit_aligned(features[rows], labels[rows], data.target, fit.C, data.seed, data.num_classes,
                                     fit.blocks, copies, spread)

    # Scored as it is served: the serving head (the target's standardisation) on the labelled rows.
    probabilities = (validation.out_of_fold(data.plan, len(labels), lambda train, val: aligned(train).serving_fit(
    ).probabilities(features[val])) if data.plan.usable else None)
    whole = aligned(np.arange(len(labels)))
    name = ADAPTATION_ALIGN if spread is None else f"{ADAPTATION_ALIGN}+spread ({spread[0]}, k={spread[1]})"
    return _Candidate(name, probabilities, whole.target_probabilities(data.target),
                      lambda: probe.probe_head(whole.serving_fit(), data.num_classes, data.config, data.seed))


def _candidates(path: str, data: _Data) -> List[_Candidate]:
    """The candidates of `path`: every one for 'adapt', else the asked-for method's."""
    if path in (ADAPTATION_DANN, ADAPTATION_MCC):
        return [_head_candidate(path, data)]
    aligned = [_aligned_candidate(data, None)] + [_aligned_candidate(data, s) for s in semi_supervised.SETTINGS]
    if path == ADAPTATION_ALIGN:
        return aligned
    unadapted = _Candidate(UNADAPTED, data.head_fit.probabilities,
                           data.head_fit.head.predict(data.target, verbose=0), lambda: data.head_fit.head)
    return [unadapted, _head_candidate(adaptation.AUTO_METHOD, data)] + aligned


def _choose_adapted(path: str, data: _Data, record: Dict[str, Any], drift_reason: str) -> Outcome:
    """The candidate of highest SND among those the labelled rows' floor lets through."""
    candidates = _candidates(path, data)
    baseline = validation.validated_accuracy(data.head_fit.probabilities, data.labels)
    table = []
    for candidate in candidates:
        accuracy = validation.validated_accuracy(candidate.probabilities, data.labels)
        noise = gate.paired_standard_error(candidate.probabilities, data.head_fit.probabilities, data.labels)
        floor = baseline - (FLOOR_STANDARD_ERRORS * noise if math.isfinite(noise) else 0.0)
        candidate.figures.update(
            name=candidate.name, source_validation=checks.finite_or_none(accuracy),
            snd=label_free.soft_neighbourhood_density(candidate.target_probabilities, data.seed),
            passes_floor=bool(path != ADAPTATION_ADAPT or not math.isfinite(baseline) or accuracy + 1e-9 >= floor))
        table.append(candidate.figures)
    best = candidates[pick(table)]
    kept = best.name != UNADAPTED
    record.update({key: value for key, value in best.figures.items() if key not in ("name", "source_validation")})
    record.update(method=best.name if kept else None, kept=kept, candidates=table,
                  source_validation_unadapted=checks.finite_or_none(baseline), source_validation_adapted=best.figures["source_validation"])
    said = (f"of {len(candidates)} candidate(s), {best.name} had the highest soft neighbourhood density on the "
            f"unlabelled images ({best.figures['snd']:.3f}; labelled validation {_text(best.figures['source_validation'])} "
            f"against {_text(baseline)} unadapted)")
    if path != ADAPTATION_ADAPT:
        return Outcome(best.build(), best.probabilities, record, f"Adapted with {path} as asked: {said}. {drift_reason}")
    if not kept:
        return Outcome(None, None, record, f"{drift_reason} The head was not adapted: {said}.")
    return _routed(best, data, record, f"{drift_reason} Adapted: {said}.")


def _routed(best: _Candidate, data: _Data, record: Dict[str, Any], said: str) -> Outcome:
    """The `Outcome` serving `best` to the inputs a domain router sends to the unlabelled
    images' domain, and the unadapted head to the rest (`routing`)."""
    fit = data.head_fit
    router = routing.fit_router(data.features, data.target, data.seed, fit.blocks)
    labelled_weights, unlabelled_weights = router.weights(data.features), router.weights(data.target)
    record["router"] = {"C": routing.ROUTER_C, "mean_weight_labelled": round(float(labelled_weights.mean()), 4),
                        "mean_weight_unlabelled": round(float(unlabelled_weights.mean()), 4)}
    probabilities = (routing.mix(fit.probabilities, best.probabilities, labelled_weights)
                     if fit.probabilities is not None and best.probabilities is not None else None)
    head = routing.routed_head(fit.head, best.build(), router, data.num_classes, data.config, data.seed)
    return Outcome(head, probabilities, record,
                   f"{said} A domain classifier routes each input: images like the unlabelled ones (mean weight "
                   f"{unlabelled_weights.mean():.2f}) get the adapted head, images like the labelled ones (mean weight "
                   f"{labelled_weights.mean():.2f}) the unadapted head, so unrelated unlabelled images cannot cost "
                   "accuracy on the labelled domain.")


def pick(table: List[Dict[str, Any]]) -> int:
    """The index of the adapted row (any but `UNADAPTED`) of highest `snd` among those that pass
    the floor (`passes_floor`); the first row (the unadapted head under 'adapt') when none does
    or none has an SND.

    The unadapted head does not compete on SND: 'adapt' says the unlabelled images are the
    serving domain, and SND was built to choose among adapted models and their settings
    (Saito et al. tune adaptation methods with it), not to compare one with a model that never
    saw the serving domain. On `bench/domain_adaptation.py`'s blend task it ranked the unadapted
    head first on one seed by 0.003, where MCC would have gained 6 points; the floor on the
    labelled rows is what guards against an adaptation that breaks the task."""
    eligible = [i for i, row in enumerate(table)
                if row.get("name") != UNADAPTED and row["passes_floor"] and math.isfinite(row["snd"])]
    return max(eligible, key=lambda i: table[i]["snd"]) if eligible else 0


def _text(value: Optional[float]) -> str:
    return f"{value:.3f}" if value is not None and math.isfinite(value) else "n/a"
