"""The serving SavedModel: both signatures give the full model's probabilities and names."""

import numpy as np
import pytest
import tensorflow as tf

import testdata
from tfx_transfer.trainer.data import preprocessing as pp
from tfx_transfer.trainer.training import export
from tfx_transfer.trainer.training import head as head_lib


def _images():
    return [testdata.png_bytes(20, 24, seed=1), testdata.jpeg_bytes(40, 30, seed=2), testdata.class_png(2, 3, seed=3)]


@pytest.mark.parametrize("class_names", [("cat", "dog", "fox"), ("no", "yes")])
def test_both_signatures_match_the_full_model(tiny_extractor, tmp_path, class_names):
    extractor, pp_config = tiny_extractor
    head = head_lib.build_head(extractor.output_shape[-1], len(class_names), head_lib.HeadConfig(head_units=(8,)), seed=3)
    full = head_lib.build_full_model(extractor, head)
    export_dir = export.export_serving_model(full, pp_config, class_names, str(tmp_path / "serving"))

    images = _images()
    preprocessed = pp.preprocess_image_batch(tf.constant(images), pp_config)
    expected = full(preprocessed).numpy()
    loaded = tf.saved_model.load(export_dir)
    assert {"serving_default", "serving_raw"} <= set(loaded.signatures)
    examples = [testdata.make_example(b, "cat", f"id{i}").SerializeToString() for i, b in enumerate(images)]
    outputs = {
        "serving_default": loaded.signatures["serving_default"](examples=tf.constant(examples)),
        "serving_raw": loaded.signatures["serving_raw"](image_bytes=tf.constant(images)),
    }
    for name, out in outputs.items():
        assert out["probabilities"].dtype == tf.float32 and out["classes"].dtype == tf.int64, name
        np.testing.assert_allclose(out["probabilities"].numpy(), expected, atol=1e-5, err_msg=name)
        np.testing.assert_array_equal(out["classes"].numpy(), expected.argmax(axis=1))
        names = [n.decode() for n in out["class_names"].numpy()]
        assert names == [class_names[i] for i in expected.argmax(axis=1)]
    # The design's contract: serving on a raw example equals head(bottleneck) within 1e-5.
    bottlenecks = extractor(preprocessed).numpy()
    np.testing.assert_allclose(outputs["serving_raw"]["probabilities"].numpy(), head(bottlenecks).numpy(), atol=1e-5)


def test_class_names_must_match_the_outputs(tiny_extractor, tmp_path):
    extractor, pp_config = tiny_extractor
    full = head_lib.build_full_model(extractor, head_lib.build_head(196, 3, head_lib.HeadConfig(), seed=0))
    with pytest.raises(export.ExportError, match="2 class_names \\['a', 'b'\\] do not match the model's 3 outputs"):
        export.export_serving_model(full, pp_config, ["a", "b"], str(tmp_path / "serving"))
