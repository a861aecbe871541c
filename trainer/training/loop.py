"""The two training phases, their callbacks, and the written training history.

Phase 1 (`train_head`) trains the head on bottlenecks. Phase 2 (`fine_tune`) trains the full
model with the top of the base unfrozen at a much smaller learning rate. Both phases use the
same callbacks: EarlyStopping (restoring the best weights), ReduceLROnPlateau, BackupAndRestore
(a killed run resumes from its last finished epoch) and TensorBoard. `write_history` puts
`history.json` and `training_curves.png` into the run directory.

Runs are reproducible on CPU: seeded initialisers and dropout (`head.build_head`), seeded
shuffles (`datasets`) and `keras.utils.set_random_seed(seed)` before fitting. A tf.data shuffle
combines its seed with TF's global seed when the dataset is built, so callers call
`keras.utils.set_random_seed(seed)` once before building datasets and models.
"""

from __future__ import annotations

import dataclasses
import io
import json
import logging
import math
import os
from typing import Dict, List, Mapping, Optional, Sequence, Tuple, Union

import keras
import tensorflow as tf

from tfx_transfer.trainer.common import checks, keras_compat
from tfx_transfer.trainer.data import datasets
from tfx_transfer.trainer.training import head as head_lib

PHASE_HEAD = "head"
PHASE_FINE_TUNE = "fine_tune"

HISTORY_FILE = "history.json"
CURVES_FILE = "training_curves.png"
TENSORBOARD_DIR = "tensorboard"
BACKUP_DIR = "backup"

CLASS_WEIGHT_BALANCED = "balanced"
CLASS_WEIGHT_CHOICES = (CLASS_WEIGHT_BALANCED, None)

MIXED_PRECISION_POLICY = "mixed_float16"

# ReduceLROnPlateau halves the learning rate after half the EarlyStopping patience (at least two
# epochs), then waits an epoch: on the noisy validation loss of a few dozen images, quicker or
# steeper cuts stalled the head (bench/recipe_parity.py lost 2 points to them).
_LR_FACTOR = 0.5
_LR_COOLDOWN = 1
_MIN_LEARNING_RATE = 1e-7


# A Keras head trains for at least this many optimizer steps, however few the examples: an
# epoch budget alone gives 50 examples at batch 32 just 40 steps for 20 epochs.
MIN_HEAD_STEPS = 500


class TrainConfigError(ValueError):
    """A training hyperparameter outside its valid range."""


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """Epochs and learning rates of both phases, batch size, patience, seed and class weights.

    `class_weight='balanced'` weighs each class by n / (C * count) so rare classes count as much
    as common ones.
    """

    epochs: int = 20
    learning_rate: float = 1e-3
    fine_tune_epochs: int = 10
    fine_tune_learning_rate: float = 1e-5
    batch_size: int = 32
    patience: int = 5
    seed: int = 0
    class_weight: Optional[str] = None

    def __post_init__(self) -> None:
        for name, low in (("epochs", 1), ("fine_tune_epochs", 0), ("batch_size", 1), ("patience", 0), ("seed", 0)):
            checks.check_int(name, getattr(self, name), low, TrainConfigError)
        for name in ("learning_rate", "fine_tune_learning_rate"):
            checks.check_positive(name, getattr(self, name), TrainConfigError)
        checks.check_choice("class_weight", self.class_weight, CLASS_WEIGHT_CHOICES, TrainConfigError)


# An epoch of a small data set is repeated to at least this many steps, so the per-epoch cost
# of callbacks does not dominate.
MIN_EPOCH_STEPS = 50


def head_schedule(config: TrainConfig, num_examples: int) -> Tuple[TrainConfig, int]:
    """(config, repeats): each epoch passes over the data `repeats` times, and there are enough
    epochs for `MIN_HEAD_STEPS` steps however few the examples."""
    steps = max(1, math.ceil(num_examples / config.batch_size))
    repeats = max(1, math.ceil(MIN_EPOCH_STEPS / steps))
    epochs = max(config.epochs, math.ceil(MIN_HEAD_STEPS / (steps * repeats)))
    return dataclasses.replace(config, epochs=epochs), repeats


# ---------------------------------------------------------------------------------------------
# Devices
# ---------------------------------------------------------------------------------------------


def num_gpus() -> int:
    return len(tf.config.list_physical_devices("GPU"))


def distribution_strategy() -> tf.distribute.Strategy:
    """MirroredStrategy over all GPUs when there are several, else the default strategy.

    Build and compile the models inside `strategy.scope()`.
    """
    return tf.distribute.MirroredStrategy() if num_gpus() > 1 else tf.distribute.get_strategy()


def configure_mixed_precision(enabled: Optional[bool] = None) -> str:
    """Sets Keras' global dtype policy: mixed_float16 when a GPU is present (or `enabled`).

    Call it before building the models: it applies to layers created afterwards (the head and a
    Keras Application built by name), while a model loaded from a file keeps its saved dtypes.
    The head's output layers always compute in float32. Returns the policy name set.
    """
    use = num_gpus() > 0 if enabled is None else enabled
    policy = MIXED_PRECISION_POLICY if use else "float32"
    keras.mixed_precision.set_global_policy(policy)
    return policy


# ---------------------------------------------------------------------------------------------
# Callbacks and fitting
# ---------------------------------------------------------------------------------------------


def callbacks(
    run_dir: str, phase: str, patience: int, backup_dir: str, monitor: str = "val_loss"
) -> List[keras.callbacks.Callback]:
    """EarlyStopping, ReduceLROnPlateau, BackupAndRestore and TensorBoard for one phase.

    Each phase backs up into its own `backup_dir/phase`: BackupAndRestore deletes its directory
    when training ends, and a resumed phase must not pick up the other phase's weights.
    """
    return [
        keras.callbacks.EarlyStopping(monitor=monitor, patience=patience, restore_best_weights=True),
        keras.callbacks.ReduceLROnPlateau(
            monitor=monitor, factor=_LR_FACTOR, patience=max(2, patience // 2), cooldown=_LR_COOLDOWN,
            min_lr=_MIN_LEARNING_RATE,
        ),
        keras.callbacks.BackupAndRestore(os.path.join(backup_dir, phase)),
        keras.callbacks.TensorBoard(os.path.join(run_dir, TENSORBOARD_DIR, phase), write_graph=False),
    ]


def compile_model(model: keras.Model, learning_rate: float, label_smoothing: float = 0.0) -> None:
    """Adam at `learning_rate`, the loss matching the head's output, and accuracy."""
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate),
        loss=head_lib.head_loss(int(model.outputs[0].shape[-1]), label_smoothing),
        metrics=[keras.metrics.SparseCategoricalAccuracy(name="accuracy")],
    )


def _class_weight(
    config: TrainConfig, train_ds: tf.data.Dataset, model: keras.Model, given: Optional[Dict[int, float]]
) -> Optional[Dict[int, float]]:
    """The explicit class weights, or 'balanced' ones counted from the training labels."""
    if given is not None or config.class_weight is None:
        return given
    return head_lib.class_weights(datasets.dataset_labels(train_ds), int(model.outputs[0].shape[-1]))


def _fit(
    model: keras.Model,
    train_ds: tf.data.Dataset,
    eval_ds: Optional[tf.data.Dataset],
    epochs: int,
    phase: str,
    config: TrainConfig,
    run_dir: str,
    class_weight: Optional[Dict[int, float]],
    backup_dir: Optional[str],
    extra_callbacks: Sequence[keras.callbacks.Callback],
) -> keras.callbacks.History:
    keras.utils.set_random_seed(config.seed)
    monitor = "val_loss" if eval_ds is not None else "loss"
    phase_callbacks = callbacks(run_dir, phase, config.patience, backup_dir or os.path.join(run_dir, BACKUP_DIR), monitor)
    history = model.fit(
        train_ds,
        validation_data=eval_ds,
        epochs=epochs,
        class_weight=_class_weight(config, train_ds, model, class_weight),
        callbacks=phase_callbacks + list(extra_callbacks),
        verbose=2,
    )
    keras_compat.reset_initial_epoch(model)  # set by BackupAndRestore; must not leak into a later fit
    return history


def train_head(
    head: keras.Model,
    train_ds: tf.data.Dataset,
    eval_ds: Optional[tf.data.Dataset],
    config: TrainConfig,
    run_dir: str,
    label_smoothing: float = 0.0,
    class_weight: Optional[Dict[int, float]] = None,
    backup_dir: Optional[str] = None,
    extra_callbacks: Sequence[keras.callbacks.Callback] = (),
) -> keras.callbacks.History:
    """Phase 1: trains the head on (bottleneck, label) batches at `config.learning_rate`."""
    compile_model(head, config.learning_rate, label_smoothing)
    return _fit(head, train_ds, eval_ds, config.epochs, PHASE_HEAD, config, run_dir, class_weight, backup_dir, extra_callbacks)


def fine_tune(
    full_model: keras.Model,
    train_ds: tf.data.Dataset,
    eval_ds: Optional[tf.data.Dataset],
    config: TrainConfig,
    run_dir: str,
    unfreeze_spec: Optional[head_lib.UnfreezeSpec] = None,
    label_smoothing: float = 0.0,
    class_weight: Optional[Dict[int, float]] = None,
    backup_dir: Optional[str] = None,
    extra_callbacks: Sequence[keras.callbacks.Callback] = (),
) -> keras.callbacks.History:
    """Phase 2: trains the full model (image -> probabilities) at `config.fine_tune_learning_rate`.

    With `unfreeze_spec` the top of the base is unfrozen first (else the caller already did);
    the model is always recompiled so the new trainable flags and learning rate take effect.
    """
    if config.fine_tune_epochs < 1:
        raise TrainConfigError(
            f"fine_tune_epochs={config.fine_tune_epochs} leaves nothing to fine-tune; valid values are >= 1."
        )
    if unfreeze_spec is not None:
        unfrozen = head_lib.unfreeze(full_model, unfreeze_spec)
        logging.info("Fine-tuning base layers %s", unfrozen)
    compile_model(full_model, config.fine_tune_learning_rate, label_smoothing)
    return _fit(
        full_model, train_ds, eval_ds, config.fine_tune_epochs, PHASE_FINE_TUNE, config, run_dir,
        class_weight, backup_dir, extra_callbacks,
    )


# ---------------------------------------------------------------------------------------------
# History and curves
# ---------------------------------------------------------------------------------------------

HistoryLike = Union[keras.callbacks.History, Mapping[str, Sequence[float]]]


def _phase_records(histories: Mapping[str, HistoryLike]) -> Dict[str, Dict[str, List[float]]]:
    """Each phase's metrics, plus 'epoch': 1-based epochs on one axis continuing across phases."""
    records: Dict[str, Dict[str, List[float]]] = {}
    offset = 0
    for phase, history in histories.items():
        metrics = dict(history.history if isinstance(history, keras.callbacks.History) else history)
        length = max((len(v) for v in metrics.values()), default=0)
        epochs = list(getattr(history, "epoch", None) or range(length))
        record = {"epoch": [offset + int(e) + 1 for e in epochs]}
        record.update({name: [float(v) for v in values] for name, values in metrics.items()})
        records[phase] = record
        offset = max(record["epoch"], default=offset)
    return records


def _plot_curves(records: Dict[str, Dict[str, List[float]]]) -> bytes:
    """PNG bytes of loss and accuracy per epoch, with a line where each later phase starts."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg  # no global backend switch
    from matplotlib.figure import Figure

    figure = Figure(figsize=(10, 4))
    FigureCanvasAgg(figure)
    for position, metric in enumerate(("loss", "accuracy"), start=1):
        axes = figure.add_subplot(1, 2, position)
        for name, style in ((metric, "-"), (f"val_{metric}", "--")):
            xs = [x for r in records.values() if name in r for x in r["epoch"]]
            ys = [y for r in records.values() if name in r for y in r[name]]
            if ys:
                axes.plot(xs, ys, style, marker="o", label=name)
        for phase, record in list(records.items())[1:]:
            if record["epoch"]:
                axes.axvline(record["epoch"][0] - 0.5, color="gray", linestyle=":", label=f"{phase} starts")
        axes.set_xlabel("epoch")
        axes.set_title(metric)
        axes.legend()
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()


def write_history(histories: Mapping[str, HistoryLike], run_dir: str) -> Dict[str, Dict[str, List[float]]]:
    """Writes `history.json` ({phase: {'epoch': [...], metric: [...]}}) and `training_curves.png`.

    Phases are plotted in the order given, on one continuous epoch axis. A run without epochs
    (the probe head is one convex solve) gets no curves: two empty charts would say nothing.
    Returns the records.
    """
    records = _phase_records(histories)
    tf.io.gfile.makedirs(run_dir)
    with tf.io.gfile.GFile(os.path.join(run_dir, HISTORY_FILE), "w") as f:
        f.write(json.dumps(records, indent=2))
    if any(record["epoch"] for record in records.values()):
        with tf.io.gfile.GFile(os.path.join(run_dir, CURVES_FILE), "wb") as f:
            f.write(_plot_curves(records))
    return records
