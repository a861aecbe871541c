"""Both training phases: callbacks, determinism, resume, fine-tuning and the written history."""

import json
import os

import keras
import numpy as np
import pytest
import tensorflow as tf

import testdata
from tfx_transfer.trainer.data import datasets, records
from tfx_transfer.trainer.data.labels import LabelVocabulary
from tfx_transfer.trainer.training import head as head_lib
from tfx_transfer.trainer.training import loop
from tfx_transfer.trainer.training.loop import TrainConfig, TrainConfigError

VOCAB = LabelVocabulary(("cat", "dog", "fox"))


@pytest.fixture
def bottleneck_files(tmp_path):
    rng = np.random.default_rng(0)
    centers = rng.normal(size=(3, 6)) * 2
    examples = [
        testdata.bottleneck_example(centers[i % 3] + rng.normal(size=6), VOCAB.names[i % 3]) for i in range(48)
    ]
    testdata.write_tfrecords(str(tmp_path / "bottlenecks"), [e.SerializeToString() for e in examples])
    return str(tmp_path / "bottlenecks" / "*")


def _datasets(pattern, seed=0):
    features, scan = records.load_bottlenecks(pattern, "label", VOCAB, {testdata.CUT: 6})
    features, labels = features[testdata.CUT], scan.labels
    train = datasets.array_dataset(features, labels, batch_size=8, shuffle=True, seed=seed)
    evaluation = datasets.array_dataset(features, labels, batch_size=16, shuffle=False, seed=None)
    return train, evaluation


def _train(pattern, run_dir, config, **kwargs):
    keras.utils.set_random_seed(config.seed)  # shuffles take TF's global seed when built
    head = head_lib.build_head(6, 3, head_lib.HeadConfig(head_units=(8,), dropout=0.3), seed=config.seed)
    train, evaluation = _datasets(pattern, config.seed)
    history = loop.train_head(head, train, evaluation, config, str(run_dir), **kwargs)
    return head, history


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(epochs=0), "epochs=0 is invalid; valid values are ints >= 1"),
        (dict(fine_tune_epochs=-1), "fine_tune_epochs=-1"),
        (dict(batch_size=0), "batch_size=0"),
        (dict(learning_rate=0.0), "learning_rate=0.0 is invalid; valid values are positive numbers"),
        (dict(fine_tune_learning_rate=-1e-5), "fine_tune_learning_rate=-1e-05"),
        (dict(patience=1.5), "patience=1.5"),
        (dict(class_weight="auto"), "Unknown class_weight 'auto'; valid values are \\['balanced', None\\]"),
    ],
)
def test_train_config_errors_name_the_value_and_valid_range(kwargs, match):
    with pytest.raises(TrainConfigError, match=match):
        TrainConfig(**kwargs)


def test_callbacks_of_a_phase(tmp_path):
    early, plateau, backup, board = loop.callbacks(str(tmp_path), "head", 4, str(tmp_path / "bk"))
    assert isinstance(early, keras.callbacks.EarlyStopping) and early.restore_best_weights and early.patience == 4
    assert isinstance(plateau, keras.callbacks.ReduceLROnPlateau) and plateau.patience == 2
    assert isinstance(backup, keras.callbacks.BackupAndRestore)
    assert backup.backup_dir == str(tmp_path / "bk" / "head")
    assert isinstance(board, keras.callbacks.TensorBoard)
    assert board.log_dir == str(tmp_path / "tensorboard" / "head")


def test_no_gpu_means_default_strategy_and_float32():
    assert loop.num_gpus() == 0
    assert loop.distribution_strategy() is tf.distribute.get_strategy()
    assert loop.configure_mixed_precision() == "float32"
    assert keras.mixed_precision.global_policy().name == "float32"


def test_head_training_learns_and_writes_tensorboard(bottleneck_files, tmp_path):
    config = TrainConfig(epochs=8, learning_rate=0.05, patience=8, class_weight="balanced")
    _, history = _train(bottleneck_files, tmp_path / "run", config)
    assert history.history["loss"][-1] < history.history["loss"][0]
    assert history.history["val_accuracy"][-1] > 0.8
    assert os.listdir(tmp_path / "run" / "tensorboard" / "head")
    assert not os.path.exists(tmp_path / "run" / "backup" / "head")  # removed after a finished run


def test_same_seed_gives_identical_head_weights(bottleneck_files, tmp_path):
    config = TrainConfig(epochs=3, seed=5, patience=5)
    first, _ = _train(bottleneck_files, tmp_path / "a", config)
    second, _ = _train(bottleneck_files, tmp_path / "b", config)
    first_weights, second_weights = first.get_weights(), second.get_weights()
    assert len(first_weights) == len(second_weights) > 0
    for a, b in zip(first_weights, second_weights):
        np.testing.assert_array_equal(a, b)


class _Crash(keras.callbacks.Callback):
    """Stands in for a killed worker: fails after the first epoch was backed up."""

    def on_epoch_end(self, epoch, logs=None):
        raise RuntimeError("worker killed")


def test_a_killed_run_resumes_from_its_backup(bottleneck_files, tmp_path):
    config = TrainConfig(epochs=3, patience=10)
    backup = str(tmp_path / "backup")
    with pytest.raises(RuntimeError, match="worker killed"):
        _train(bottleneck_files, tmp_path / "run", config, backup_dir=backup, extra_callbacks=[_Crash()])
    assert os.path.exists(os.path.join(backup, "head", "training_metadata.json"))
    _, history = _train(bottleneck_files, tmp_path / "run", config, backup_dir=backup)
    assert history.epoch == [1, 2]
    assert len(history.history["loss"]) == 2


def _image_datasets(tmp_path):
    examples = testdata.class_examples(12, size=(32, 32))
    testdata.write_tfrecords(str(tmp_path / "raw"), [e.SerializeToString() for e in examples])
    return str(tmp_path / "raw" / "*")


def test_fine_tune_unfreezes_recompiles_and_changes_the_base(tiny_extractor, tmp_path):
    extractor, pp_config = tiny_extractor
    pattern = _image_datasets(tmp_path)
    images = datasets.raw_image_dataset(pattern, "image", "label", VOCAB, pp_config, batch_size=4, shuffle=True, seed=0)
    head = head_lib.build_head(extractor.output_shape[-1], 3, head_lib.HeadConfig(), seed=0)
    full = head_lib.build_full_model(extractor, head)
    conv_before = extractor.get_layer("conv").get_weights()[0].copy()
    config = TrainConfig(fine_tune_epochs=2, fine_tune_learning_rate=1e-3, patience=5)
    history = loop.fine_tune(full, images, None, config, str(tmp_path / "run"), unfreeze_spec=3)
    assert len(history.history["loss"]) == 2
    assert float(keras.ops.convert_to_numpy(full.optimizer.learning_rate)) == pytest.approx(1e-3)
    assert not np.allclose(extractor.get_layer("conv").get_weights()[0], conv_before)


def test_fine_tune_without_epochs_is_an_error(tiny_extractor, tmp_path):
    extractor, _ = tiny_extractor
    full = head_lib.build_full_model(extractor, head_lib.build_head(196, 3, head_lib.HeadConfig(), seed=0))
    with pytest.raises(TrainConfigError, match="fine_tune_epochs=0"):
        loop.fine_tune(full, None, None, TrainConfig(fine_tune_epochs=0), str(tmp_path))


def test_write_history_puts_both_phases_on_one_epoch_axis(tmp_path):
    histories = {
        "head": {"loss": [1.0, 0.8, 0.7], "accuracy": [0.5, 0.6, 0.7], "val_loss": [1.1, 0.9, 0.8]},
        "fine_tune": {"loss": [0.6, 0.5], "accuracy": [0.75, 0.8]},
    }
    records = loop.write_history(histories, str(tmp_path))
    saved = json.loads((tmp_path / loop.HISTORY_FILE).read_text())
    assert saved == records
    assert saved["head"]["epoch"] == [1, 2, 3]
    assert saved["fine_tune"]["epoch"] == [4, 5]
    assert saved["fine_tune"]["loss"] == [0.6, 0.5]
    assert (tmp_path / loop.CURVES_FILE).read_bytes().startswith(b"\x89PNG")


def test_a_history_without_epochs_draws_no_curves(tmp_path):
    assert loop.write_history({}, str(tmp_path)) == {}
    assert json.loads((tmp_path / loop.HISTORY_FILE).read_text()) == {}
    assert not (tmp_path / loop.CURVES_FILE).exists()


def test_write_history_accepts_keras_histories_of_a_resumed_run(bottleneck_files, tmp_path):
    _, history = _train(bottleneck_files, tmp_path / "run", TrainConfig(epochs=2, patience=5))
    history.epoch = [1, 2]  # as after a resume from epoch 1
    records = loop.write_history({"head": history, "fine_tune": {"loss": [0.1]}}, str(tmp_path))
    assert records["head"]["epoch"] == [2, 3] and records["fine_tune"]["epoch"] == [4]


def test_mixed_precision_head_still_outputs_float32_probabilities():
    try:
        assert loop.configure_mixed_precision(enabled=True) == "mixed_float16"
        head = head_lib.build_head(6, 3, head_lib.HeadConfig(head_units=(4,)), seed=0)
        assert head.get_layer("head_dense_0").compute_dtype == "float16"
        assert head(np.zeros((2, 6), np.float32)).dtype == "float32"
        binary = head_lib.build_head(6, 2, head_lib.HeadConfig(), seed=0)
        assert binary(np.zeros((2, 6), np.float32)).dtype == "float32"
    finally:
        keras.mixed_precision.set_global_policy("float32")
