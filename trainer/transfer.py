"""One transfer-learning run on precomputed bottlenecks: cut, head, fine-tuning, control, export.

Shared by the FineTuner executor (bottlenecks read from the BottleneckExtractor's artifact) and
the standard Trainer's `run_fn` (bottlenecks computed in-process), so both select, train and
export the same way. Only training data is ever looked at (`validation`):

1. every cut the extractor computed, and their combination, is scored (`cut_scores`), and the
   best one chosen;
2. the head is fitted on it: the cross-validated probe by default (`probe`), the Keras MLP when
   `head_units` are given; on the training images and, unless validation rejects them, their
   augmented copies (`augmented_copies`); training images whose label looks wrong are listed
   (`suspect_labels`); with unlabelled images, the head is refitted with their spread labels (no
   drift) or adapted to them and routed (drift), as `unlabelled` decides;
3. 'auto' considers fine-tuning only for large data sets (the 2x2 rule of `strategy` is the
   prior), and keeps it only when it beats the head on the validation rows;
4. the no-transfer control (`control`) is trained on the same rows and plan; when it beats the
   transferred model ("negative transfer"), the gate (`gate`) exports the control, or the two
   averaged when that average also reaches the control's validation accuracy;
5. the exported model serves both signatures of `export`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import math
import os
import tempfile
import time
from typing import Dict, Iterator, Optional, Tuple

import keras
import numpy as np

from tfx_transfer.trainer.base import base_model, cuts
from tfx_transfer.trainer.common import checks, progress
from tfx_transfer.trainer.data import datasets
from tfx_transfer.trainer.data import labels as labels_lib
from tfx_transfer.trainer.data import preprocessing as pp
from tfx_transfer.trainer.data import bottleneck_stream, raw_images, storage
from tfx_transfer.trainer.domain import adaptation as adaptation_lib, unlabelled as unlabelled_lib
from tfx_transfer.trainer.labelling import label_next, suspect_labels, thumbnails
from tfx_transfer.trainer.run_config import RunConfig
from tfx_transfer.trainer.training_data import TRANSFORM_ASSETS_DIR, TrainingData, label_vocabulary  # noqa: F401  (re-exported)
from tfx_transfer.trainer.selection import control as control_lib, augmented_copies, gate
from tfx_transfer.trainer.selection import probe, cut_scores, streamed_head, validation
from tfx_transfer.trainer.selection import strategy as strategy_lib
from tfx_transfer.trainer.training import augmentation as augmentation_lib
from tfx_transfer.trainer.training import export
from tfx_transfer.trainer.training import head as head_lib
from tfx_transfer.trainer.training import loop

@contextlib.contextmanager
def precision_policy() -> Iterator[str]:
    """mixed_float16 while a GPU is present, restoring the caller's policy afterwards."""
    previous = keras.mixed_precision.global_policy().name
    try:
        yield loop.configure_mixed_precision()
    finally:
        keras.mixed_precision.set_global_policy(previous)


# --------------------------------------------------------------------------------------- the head


def _train_mlp(
    features: np.ndarray, labels: np.ndarray, num_classes: int, config: RunConfig, run_dir: str, backup_dir: str,
    blocks: probe.Blocks = None,
) -> Tuple[keras.Model, keras.callbacks.History]:
    """The Keras MLP head, trained on all given rows for at least `loop.MIN_HEAD_STEPS` steps;
    its input is standardised as the probe's is."""
    train, repeats = loop.head_schedule(config.train, len(labels))
    head = head_lib.build_head(
        features.shape[1], num_classes, config.head, train.seed,
        standardize=tuple(value.astype(np.float32) for value in probe.standardization(features, blocks)),
    )
    batches = datasets.array_dataset(features, labels, train.batch_size, shuffle=True, seed=train.seed).repeat(repeats)
    history = loop.train_head(
        head, batches, None,
        train, run_dir, label_smoothing=config.head.label_smoothing,
        class_weight=head_lib.class_weights(labels, num_classes) if train.class_weight else None,
        backup_dir=backup_dir,
    )
    return head, history


def _backup_dir(config: RunConfig, run_dir: str) -> str:
    return config.backup_dir or os.path.join(run_dir, loop.BACKUP_DIR)


def fit_head(
    training_data: TrainingData, num_classes: int, score: cut_scores.CutScore,
    plan: validation.ValidationPlan, config: RunConfig, run_dir: str, copies: Optional[np.ndarray] = None,
) -> Tuple[keras.Model, Optional[np.ndarray], Dict[str, object]]:
    """(head on the chosen cut fitted on all rows and their augmented `copies`, its out-of-fold
    probabilities on the plan, training histories)."""
    features, blocks = cut_scores.candidate_features(training_data.features, score.cut)
    labels, seed = training_data.labels, config.train.seed
    every_row = np.arange(len(labels))
    if not config.head.head_units:
        def fold_probabilities(train_rows: np.ndarray, val_rows: np.ndarray) -> np.ndarray:
            fold = probe.fit_probe(*probe.with_copies(features, labels, train_rows, copies), score.C, seed, num_classes, blocks)
            return fold.probabilities(features[val_rows])

        fit = probe.fit_probe(*probe.with_copies(features, labels, every_row, copies), score.C, seed, num_classes, blocks)
        head, histories = probe.probe_head(fit, num_classes, config.head, seed), {}
    else:
        def fold_probabilities(train_rows: np.ndarray, val_rows: np.ndarray) -> np.ndarray:
            with tempfile.TemporaryDirectory() as scratch:
                fold, _ = _train_mlp(*probe.with_copies(features, labels, train_rows, copies), num_classes, config, scratch, scratch, blocks)
            return fold.predict(features[val_rows], verbose=0)

        head, history = _train_mlp(
            *probe.with_copies(features, labels, every_row, copies), num_classes, config, run_dir, _backup_dir(config, run_dir), blocks)
        histories = {loop.PHASE_HEAD: history}
    probabilities = validation.out_of_fold(plan, len(labels), fold_probabilities) if plan.usable else None
    return head, probabilities, histories


def _augment(
    decision: strategy_lib.StrategyDecision, cut_model: keras.Model, best: cut_scores.CutScore,
    training_data: TrainingData, plan: validation.ValidationPlan, num_classes: int,
    raw: Optional[raw_images.RawExamples], config: RunConfig, vocabulary, pp_config,
) -> augmented_copies.Outcome:
    """The augmented copies the head trains on (`augmented_copies`); the decision records them."""
    outcome = augmented_copies.augment(
        cut_model, best, training_data.features, training_data.labels, training_data.ids, plan, num_classes, raw,
        config, vocabulary, pp_config,
    )
    decision.augmentation = outcome.record
    decision.reasons.append(outcome.reason)
    return outcome


def _adapt(
    decision: strategy_lib.StrategyDecision, head_model: Tuple[keras.Model, Optional[np.ndarray]],
    training_data: TrainingData, cut: str, num_classes: int, plan: validation.ValidationPlan, config: RunConfig,
    augmented: augmented_copies.Outcome,
) -> Tuple[keras.Model, Optional[np.ndarray], Optional[str]]:
    """(head, its out-of-fold probabilities, the method that changed it or None) after
    `unlabelled.use_unlabelled`."""
    head, probabilities = head_model
    if training_data.unlabelled is None or config.adaptation == adaptation_lib.ADAPTATION_NONE:
        return head, probabilities, None
    features, blocks = cut_scores.candidate_features(training_data.features, cut)
    target, _ = cut_scores.candidate_features(training_data.unlabelled, cut)
    progress.say(f"  FineTuner: checking {len(target)} unlabelled image(s) for drift (adaptation={config.adaptation!r})")
    head_fit = unlabelled_lib.HeadFit(head, probabilities, augmented.C, blocks, augmented.copies,
                                      is_probe=not config.head.head_units)
    outcome = unlabelled_lib.use_unlabelled(
        config.adaptation, features, training_data.labels, target, num_classes, plan, head_fit, config.head,
        config.train.seed,
    )
    decision.adaptation = outcome.record
    decision.reasons.append(outcome.reason)
    if outcome.head is None:
        return head, probabilities, None
    return outcome.head, outcome.probabilities, outcome.record["method"]


def _stream_head(decision: strategy_lib.StrategyDecision, head: keras.Model, training_data: TrainingData, cut: str,
                 C: float, num_classes: int, config: RunConfig, adapted: Optional[str]) -> keras.Model:
    """With rows beyond the memory budget, the probe head refitted on every row (`streamed_head`)."""
    stream, held = training_data.stream, len(training_data.labels)
    said = f"The {stream.rows} rows exceed memory_budget_mb={config.memory_budget_mb}: every selection used {held} of them"
    if adapted is not None or config.head.head_units:
        decision.reasons.append(f"{said}, and so did the head ({'adapted to the unlabelled images' if adapted else 'an MLP'}"
                                "; only the probe head is refitted on the stream).")
        return head
    progress.say(f"  FineTuner: refitting the head on all {stream.rows} rows, streamed")
    batches = bottleneck_stream.stream_batches(
        stream, cuts.cut_parts(cut, tuple(stream.feature_dims)), streamed_head.STREAM_BATCH, config.train.seed)
    decision.head["streamed"] = streamed_head.refit(head, batches, stream.rows, C, num_classes, config.train.seed)
    decision.reasons.append(f"{said}; the head was then refitted on all of them, streamed "
                            f"({streamed_head.STREAM_EPOCHS} epochs of minibatch Adam from the subsample's probe).")
    return head


# --------------------------------------------------------------------------------------- fine-tuning


def fine_tune_rows(
    cut_model: keras.Model, training_data: TrainingData, score: cut_scores.CutScore, num_classes: int,
    rows: Tuple[np.ndarray, Optional[np.ndarray]], raw: raw_images.RawExamples, config: RunConfig, vocabulary, pp_config,
    unfreeze, run_dir: str,
) -> Tuple[keras.Model, Optional[np.ndarray], float, Dict[str, object]]:
    """(fine-tuned model, its probabilities of the validation rows, the head's accuracy on them, histories).

    The probe head is fitted on the training rows, then base and head are fine-tuned on their
    raw images; both are scored on the validation rows (None and NaN without them). The
    probabilities are out-of-fold: rows that are not validation rows are NaN.
    """
    train_rows, val_rows = rows
    (features, blocks), labels, ids = cut_scores.candidate_features(training_data.features, score.cut), training_data.labels, training_data.ids
    fit = probe.fit_probe(features[train_rows], labels[train_rows], score.C, config.train.seed, num_classes, blocks)
    full = head_lib.build_full_model(cut_model, probe.probe_head(fit, num_classes, config.head, config.train.seed))
    augmentation = augmentation_lib.build_augmentation(config.augmentation, config.train.seed)
    scanned = raw_images.scan_examples(raw, config, vocabulary)  # one checking pass for both parts
    train_ds, _ = raw_images.part_dataset(scanned, config, vocabulary, pp_config, ids[train_rows], True, augmentation)
    val_ds, val_ids = raw_images.part_dataset(scanned, config, vocabulary, pp_config, ids[val_rows], False) if val_rows is not None else (None, None)
    history = loop.fine_tune(
        full, train_ds, val_ds, config.train, run_dir, unfreeze_spec=unfreeze,
        label_smoothing=config.head.label_smoothing, backup_dir=_backup_dir(config, run_dir),
    )
    if val_rows is None:
        return full, None, float("nan"), {loop.PHASE_FINE_TUNE: history}
    head_accuracy = float(np.mean(fit.probabilities(features[val_rows]).argmax(1) == labels[val_rows]))
    order = raw_images.rows_in_dataset_order(val_ids, val_rows, ids[val_rows])
    if order is None:  # an image body that failed to decode: its row has no prediction to line up
        logging.warning("The validation images cannot be matched to the bottlenecks by id; fine-tuning is not scored.")
        return full, None, head_accuracy, {loop.PHASE_FINE_TUNE: history}
    tuned = np.full((len(labels), num_classes), np.nan)
    tuned[order] = full.predict(val_ds, verbose=0)
    return full, tuned, head_accuracy, {loop.PHASE_FINE_TUNE: history}


# --------------------------------------------------------------------------------------- the control


def run_control(
    cut_model: keras.Model, training_data: TrainingData, num_classes: int, plan: validation.ValidationPlan,
    raw: raw_images.RawExamples, config: RunConfig, vocabulary, pp_config: pp.PreprocessingConfig,
) -> control_lib.ControlResult:
    """The no-transfer control, on the same rows and plan as the transferred model."""
    kinds = control_lib.choose_kinds(config.control, cut_model.count_params())
    image_shape, seed = (*pp_config.image_size, pp_config.channels), config.train.seed
    front_by_kind = control_lib.fronts(kinds, image_shape, cut_model, seed)
    start = time.perf_counter()
    front = control_lib.one_pass(front_by_kind, image_shape) if front_by_kind else None
    values, why = raw_images.raw_features(raw, config, vocabulary, pp_config, front, training_data.ids)
    if values is None:
        return control_lib.ControlResult(kinds[0], float("nan"), 0.0, 0, f"no control: {why}")
    if not front_by_kind:
        return control_lib.scratch_control(
            values, training_data.labels, num_classes, plan, cut_model, config.train.batch_size, seed)
    return control_lib.probe_controls(values, front_by_kind, training_data.labels, num_classes, plan, config.head, seed,
                                      start)


def _gate(
    decision: strategy_lib.StrategyDecision, model: keras.Model, probabilities: Optional[np.ndarray],
    result: control_lib.ControlResult, labels: np.ndarray, margin: float, serving_shift: bool,
) -> keras.Model:
    """The model the negative-transfer gate (`gate`) exports; the decision records why."""
    verdict = gate.judge(probabilities, result, labels, margin, decision.validation, serving_shift)
    decision.control = {**result.to_dict(), "ensemble_validation_accuracy": checks.finite_or_none(verdict.ensemble_accuracy)}
    decision.exported, decision.negative_transfer = verdict.exported, verdict.negative_transfer
    decision.reasons.append(verdict.reason)
    return gate.exported_model(verdict, model, result)


# --------------------------------------------------------------------------------------- the run


def _prior(config: RunConfig, training_data: TrainingData, score: cut_scores.CutScore, num_classes: int,
           cut_model: keras.Model, fine_tunable: bool) -> strategy_lib.StrategyDecision:
    return strategy_lib.requested_strategy(
        config.strategy, config.unfreeze,
        strategy_lib.examples_per_class(training_data.train_rows, num_classes),
        score.logme, len(head_lib.base_layers(cut_model)), fine_tunable, config.strategy_thresholds,
    )


def _head_only(decision: strategy_lib.StrategyDecision, why: str) -> None:
    decision.strategy, decision.unfreeze = strategy_lib.STRATEGY_FEATURE_EXTRACTION, None
    decision.reasons.append(why)


Trained = Tuple[keras.Model, Optional[np.ndarray]]  # a model and its out-of-fold validation probabilities


def _fine_tune_step(
    decision: strategy_lib.StrategyDecision, head_model: Trained, cut_model: keras.Model,
    training_data: TrainingData, best: cut_scores.CutScore, num_classes: int, plan: validation.ValidationPlan,
    raw: Optional[raw_images.RawExamples], config: RunConfig, vocabulary, pp_config, run_dir: str, histories: Dict[str, object],
) -> Trained:
    """Fine-tunes when the decision asks for it and it can be done (and, for 'auto', when it pays)."""
    explicit = config.strategy == strategy_lib.STRATEGY_FINE_TUNE
    if raw is None:
        _head_only(decision, "Fine-tuning needs the raw examples, which this run was not given; only the head was trained.")
        return head_model
    if config.train.fine_tune_epochs < 1:
        _head_only(decision, "fine_tune_epochs=0: only the head was trained.")
        return head_model
    validated = plan.kind in (validation.PLAN_HOLDOUT, validation.PLAN_GIVEN)
    if not validated and not explicit:
        _head_only(decision, f"Fine-tuning was not tried: with {plan.describe()} it could not be validated.")
        return head_model
    rows = plan.folds[0] if validated else (np.arange(len(training_data.labels)), None)
    progress.say(f"  FineTuner: fine-tuning the top of the base ({decision.unfreeze})")
    tuned, tuned_probabilities, head_accuracy, tuned_history = fine_tune_rows(
        cut_model, training_data, best, num_classes, rows, raw, config, vocabulary, pp_config, decision.unfreeze, run_dir,
    )
    tuned_accuracy = validation.validated_accuracy(tuned_probabilities, training_data.labels)
    current = validation.validated_accuracy(head_model[1], training_data.labels) if validated else float("nan")
    head_accuracy = max(head_accuracy, current) if math.isfinite(current) else head_accuracy  # e.g. semi-supervised
    if explicit or tuned_accuracy > head_accuracy:
        histories.update(tuned_history)
        if not validated:
            return tuned, head_model[1]  # nothing validated the tuned model: the gate sees the head's rows
        decision.reasons.append(f"Fine-tuning reached {tuned_accuracy:.3f} on the validation rows, the head {head_accuracy:.3f}.")
        return tuned, tuned_probabilities
    _head_only(decision, f"Fine-tuning did not pay: {tuned_accuracy:.3f} on the validation rows against the head's {head_accuracy:.3f}.")
    return head_model


def fit_and_export(
    extractor: keras.Model,
    pp_config: pp.PreprocessingConfig,
    vocabulary: labels_lib.LabelVocabulary,
    training_data: TrainingData,
    raw: Optional[raw_images.RawExamples],
    config: RunConfig,
    run_dir: str,
    serving_model_dir: str,
    dropped_suspects: Optional[Tuple[Dict[str, object], str]] = None,
) -> strategy_lib.StrategyDecision:
    """Selects, trains, gates and exports (see the module docstring); returns the decision.

    With `drop_suspect_labels`, a run that finds suspect labels calls itself once on the other
    rows, handing over `dropped_suspects` (the first pass's record and sentence), which that run
    records instead of checking its own rows again.

    Writes `strategy.json` (the decision, the candidates table, the control), `history.json`,
    `training_curves.png` and TensorBoard logs under `run_dir`; the serving SavedModel and
    `model.keras` under `serving_model_dir`.
    """
    num_classes = labels_lib.check_num_classes(config.num_classes, vocabulary)
    seed = config.train.seed
    plan = validation.make_plan(training_data.train_labels, seed, training_data.validation_labels)
    forced = cuts.cut_names(extractor)[0] if len(training_data.features) == 1 else None
    progress.say(f"  FineTuner: scoring the {len(training_data.features)} extracted cut(s) on {plan.describe()}")
    scores = cut_scores.score_cuts(training_data.features, training_data.labels, num_classes, plan, seed, only=forced)
    best = cut_scores.chosen(scores)
    cut_model = cuts.cut_extractor(extractor, best.cut)
    decision = _prior(config, training_data, best, num_classes, cut_model, base_model.is_fine_tunable(extractor))
    decision.cut_layer, decision.validation = best.cut, plan.describe()
    decision.candidates = [score.to_dict() for score in scores]
    decision.reasons.insert(0, cut_scores.reason(scores, best, forced))
    augmented = _augment(decision, cut_model, best, training_data, plan, num_classes, raw, config, vocabulary, pp_config)
    progress.say(f"  FineTuner: training the head on {best.cut}"
                 + (f" with {len(augmented.copies)} augmented copies per image" if augmented.copies is not None else ""))
    head, probabilities, histories = fit_head(
        training_data, num_classes, dataclasses.replace(best, C=augmented.C), plan, config, run_dir, augmented.copies)
    decision.head = ({"kind": "mlp", "units": list(config.head.head_units)} if config.head.head_units
                     else {"kind": "probe", "C": augmented.C, "accuracy_by_C": dict(augmented.accuracy_by_C)})
    if dropped_suspects is not None:
        decision.suspect_labels, said = dropped_suspects
        decision.reasons.insert(0, said)
    else:
        suspects, decision.suspect_labels, said = suspect_labels.check_labels(
            training_data.features, best.cut, training_data.labels, augmented.C, seed, num_classes, training_data.ids,
            vocabulary.names, run_dir, thumbnails.lookup_in(raw and raw_images.raw_patterns(raw), config.image_feature))
        decision.reasons.append(said)
        dropped = suspect_labels.droppable(suspects, training_data.labels) if config.drop_suspect_labels else []
        if len(dropped):
            progress.say(f"  FineTuner: training again without {len(dropped)} suspect label(s)")
            return fit_and_export(extractor, pp_config, vocabulary, training_data.without(dropped), raw, config, run_dir,
                                  serving_model_dir, suspect_labels.as_dropped(suspects, dropped, decision.suspect_labels,
                                                                               training_data.ids))
    head, probabilities, adapted = _adapt(
        decision, (head, probabilities), training_data, best.cut, num_classes, plan, config, augmented)
    if training_data.stream is not None:
        head = _stream_head(decision, head, training_data, best.cut, augmented.C, num_classes, config, adapted)
    pairs = label_next.confused_pairs(training_data.labels, probabilities, num_classes)
    decision.confused_pairs = label_next.pairs_to_dicts(pairs, vocabulary.names, [None] * len(pairs))
    if training_data.unlabelled is not None and training_data.unlabelled_ids is not None:
        decision.label_next, said = label_next.list_next(
            training_data.features, best.cut, training_data.labels, training_data.unlabelled, training_data.unlabelled_ids,
            head, pairs, num_classes, config.label_budget, seed, vocabulary.names, run_dir,
            thumbnails.lookup_in(raw and raw.unlabelled_files, config.image_feature))
        decision.reasons.append(said)
    model = head_lib.build_full_model(cut_model, head)
    if decision.fine_tune and adapted not in (None, adaptation_lib.ADAPTATION_SEMI_SUPERVISED):
        _head_only(decision, "Fine-tuning was not tried: the head was adapted to the unlabelled images, which "
                   "fine-tuning on the labelled ones alone would undo.")
    if decision.fine_tune:
        model, probabilities = _fine_tune_step(
            decision, (model, probabilities), cut_model, training_data, best, num_classes, plan, raw, config,
            vocabulary, pp_config, run_dir, histories,
        )
    decision.transfer_accuracy = validation.validated_accuracy(probabilities, training_data.labels)
    if raw is not None and config.control.kind != control_lib.CONTROL_NONE:
        progress.say("  FineTuner: training the no-transfer control")
        result = run_control(cut_model, training_data, num_classes, plan, raw, config, vocabulary, pp_config)
        shifted = adapted not in (None, adaptation_lib.ADAPTATION_SEMI_SUPERVISED)
        model = _gate(decision, model, probabilities, result, training_data.labels, config.control.margin, shifted)
    loop.write_history(histories, run_dir)
    storage.write_text(os.path.join(run_dir, strategy_lib.STRATEGY_FILE), decision.to_json())
    logging.info("Training decision: %s", decision.to_json())
    export.export_serving_model(model, pp_config, vocabulary.names, serving_model_dir, config.image_feature)
    storage.save_keras_model(model, os.path.join(serving_model_dir, export.KERAS_MODEL_FILE))
    return decision

