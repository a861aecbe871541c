"""The no-transfer control: what it trains, and the choice between scratch and pixels."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from tfx_transfer.trainer.selection import control, validation
from tfx_transfer.trainer.training.head import HeadConfig


def _frozen_base() -> keras.Model:
    inputs = keras.Input((8, 8, 3), name="image")
    x = keras.layers.Conv2D(4, 3, name="conv")(inputs)
    x = keras.layers.GlobalAveragePooling2D(name="gap")(x)
    base = keras.Model(inputs, keras.layers.Dense(6, name="dense")(x))
    for layer in base.layers:  # as a cut extractor's layers are
        layer.trainable = False
    return base


def test_the_scratch_model_trains_every_layer_from_fresh_weights():
    base = _frozen_base()
    model = control._scratch_model(base, num_classes=3, seed=0)
    assert len(model.trainable_weights) == len(model.weights) == len(base.weights) + 2
    for name in ("conv", "dense"):
        assert not np.allclose(model.get_layer(name).get_weights()[0], base.get_layer(name).get_weights()[0])
    assert not base.get_layer("conv").trainable  # the architecture itself is left as it was


@pytest.mark.parametrize(
    "kind, params, expected",
    [("auto", 10, ("pixels", "random_features")), ("auto", 10**9, ("pixels",)), ("scratch", 10**9, ("scratch",)),
     ("pixels", 10, ("pixels",)), ("random_features", 10**9, ("random_features",))],
)
def test_choose_kinds_follows_the_setting_and_the_base_size(kind, params, expected):
    assert control.choose_kinds(control.ControlConfig(kind=kind), params) == expected


def _three_classes(rows_per_class: int = 8):
    """Images whose class is the brightness of one colour channel: pixels tell them apart."""
    rng = np.random.default_rng(0)
    labels = np.repeat(np.arange(3), rows_per_class)
    images = rng.uniform(0, 40, (len(labels), 8, 8, 3)).astype(np.float32)
    images[np.arange(len(labels)), :, :, labels] += 200.0
    return images, labels


def test_one_pass_reads_every_front_and_splits_them_back():
    fronts = control.fronts(("pixels", "random_features"), (8, 8, 3), _frozen_base(), seed=0)
    assert list(fronts) == ["pixels", "random_features"]
    images, _ = _three_classes()
    values = np.asarray(control.one_pass(fronts, (8, 8, 3))(images))
    assert values.shape == (24, control.PIXEL_SIZE * control.PIXEL_SIZE * 3 + 6)
    split = control.split_features(values, fronts)
    assert [part.shape[1] for part in split.values()] == [control.PIXEL_SIZE * control.PIXEL_SIZE * 3, 6]
    np.testing.assert_allclose(split["random_features"], np.asarray(fronts["random_features"](images)), atol=1e-5)


def test_the_random_front_has_fresh_weights_and_leaves_the_architecture_as_it_was():
    base = _frozen_base()
    front = control.random_front(base, seed=0)
    assert not np.allclose(front.get_layer("conv").get_weights()[0], base.get_layer("conv").get_weights()[0])
    assert not front.trainable_weights and not base.get_layer("conv").trainable
    again = control.random_front(base, seed=0)
    np.testing.assert_array_equal(again.get_layer("conv").get_weights()[0], front.get_layer("conv").get_weights()[0])


def test_auto_keeps_the_better_probe_control_and_says_which_it_left_out():
    images, labels = _three_classes()
    plan = validation.make_plan(labels, seed=0)
    fronts = control.fronts(("pixels", "random_features"), (8, 8, 3), _frozen_base(), seed=0)
    features = control.split_features(np.asarray(control.one_pass(fronts, (8, 8, 3))(images)), fronts)
    results = [control.probe_control(kind, features[kind], labels, 3, plan, fronts[kind], HeadConfig(), 0)
               for kind in fronts]
    for result in results:  # out-of-fold probabilities for every row the plan validates
        assert result.validation_probabilities.shape == (24, 3) and result.model.name == f"{result.kind}_control"
    accuracies = {result.kind: result.accuracy for result in results}
    best = control.better(results, seconds=1.5)
    assert best.accuracy == max(accuracies.values()) and best.seconds == 1.5
    left_out = [kind for kind in accuracies if kind != best.kind]
    assert left_out and f"the better control on validation ({left_out[0]} scored {accuracies[left_out[0]]:.3f})" in best.reason
    np.testing.assert_allclose(np.asarray(best.model(images)).argmax(1), labels)  # the classes are in the pixels


def test_better_keeps_the_first_on_a_tie():
    tied = [control.ControlResult(kind, 0.5, 0.1, 1, kind) for kind in ("pixels", "random_features")]
    assert control.better(tied, seconds=0.3).kind == "pixels"


def test_the_scratch_control_trains_on_each_fold_then_on_all_rows(monkeypatch):
    monkeypatch.setattr(control, "SCRATCH_MIN_STEPS", 3)
    images, labels = _three_classes()
    plan = validation.make_plan(labels, seed=0)
    result = control.scratch_control(images, labels, 3, plan, _frozen_base(), batch_size=8, seed=0)
    assert result.kind == "scratch" and result.validation_probabilities.shape == (24, 3)
    assert np.isfinite(result.validation_probabilities).all() and result.seconds > 0


def test_a_bad_control_setting_names_the_value():
    with pytest.raises(control.ControlConfigError, match="control.*'random'"):
        control.ControlConfig(kind="random")
