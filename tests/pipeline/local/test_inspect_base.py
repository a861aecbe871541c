"""`tfx-transfer inspect MODEL`: the default cut, the `auto` candidates and the scaling, and its bad inputs."""

from __future__ import annotations

import keras
import pytest

from testdata import build_tiny_cnn, keras2_sequential_h5
from tfx_transfer.pipeline import cli
from tfx_transfer.pipeline.local import inspect_base


def test_a_keras2_sequential_h5_is_inspected_with_a_cut_below_its_classifier(tmp_path, capsys):
    path = keras2_sequential_h5(str(tmp_path / "k2.h5"))
    assert cli.main(["inspect", path]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == f"{path}: input 16x16x3"
    assert out[1].startswith("  scaling: none (own models get pixel values 0-255 as they are")
    assert out[2].startswith("  default cut: dense_1 (")
    listed = [line.split()[0] for line in out[4:] if line.startswith("    ")]
    assert listed == ["dense_1", "dense", "flatten", "max_pooling2d", "batch_normalization"]
    assert "dense_2" not in listed and "dropout" not in listed


def test_candidates_carry_their_layer_output_and_pooled_length(tmp_path):
    path = str(tmp_path / "tiny.keras")
    build_tiny_cnn().save(path)
    found = inspect_base.inspect(path)
    assert found.default_cut == "flatten_1" and found.image_size == (32, 32) and found.channels == 3
    by_name = {candidate.name: candidate for candidate in found.candidates}
    assert list(by_name) == ["flatten_1", "pool", "conv"]
    assert by_name["pool"].kind == "MaxPooling2D" and by_name["pool"].shape == (None, 7, 7, 4) and by_name["pool"].dims == 4
    assert by_name["flatten_1"].dims == 196


def test_a_model_that_scales_its_own_input_says_so(tmp_path):
    inputs = keras.Input((16, 16, 3))
    x = keras.layers.Rescaling(1 / 255, name="to_unit")(inputs)
    x = keras.layers.GlobalAveragePooling2D(name="gap")(keras.layers.Conv2D(4, 3, name="conv")(x))
    path = str(tmp_path / "own.keras")
    keras.Model(inputs, keras.layers.Dense(2, name="scores")(x)).save(path)
    found = inspect_base.inspect(path)
    assert found.scaling == "none" and found.scaling_why == "the model's first layer, 'to_unit', scales the pixels itself"
    assert found.default_cut == "gap"


def test_a_keras_application_is_inspected_without_weights():
    found = inspect_base.inspect("MobileNetV2", 96)
    assert found.scaling == "tf" and found.default_cut == "out_relu" and found.image_size == (96, 96)
    assert found.candidates[0].dims == 1280


def _not_an_image_model(tmp_path) -> str:
    inputs = keras.Input((8,))
    path = str(tmp_path / "tabular.keras")
    keras.Model(inputs, keras.layers.Dense(2)(keras.layers.Dense(4)(inputs))).save(path)
    return path


@pytest.mark.parametrize("make, message", [
    (lambda tmp: str(tmp / "missing.h5"), r"model_uri '.*missing\.h5' does not exist; give a \.keras/\.h5 file or a SavedModel"),
    (lambda tmp: (tmp / "notes.h5").write_text("not a model") and str(tmp / "notes.h5"),
     r"'.*notes\.h5' cannot be read as a Keras model \(.*\); give a whole model saved with model\.save\(\)"),
    (_not_an_image_model, r"The base model takes inputs of shape \(None, 8\); an image model takes \(batch, height, width, "
                          r"channels\)"),
])
def test_bad_models_get_one_sentence_and_exit_code_2(tmp_path, capsys, make, message):
    import re

    code = cli.main(["inspect", make(tmp_path)])
    err = capsys.readouterr().err
    assert code == 2 and re.search(message, err) and "Traceback" not in err and len(err.strip().splitlines()) == 1
