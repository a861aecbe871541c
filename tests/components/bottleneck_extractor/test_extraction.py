"""The pure Beam transform, run on TestPipeline with `assert_that` inside the pipeline."""

from __future__ import annotations

import apache_beam as beam
import pytest
import tensorflow as tf
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to

from testdata import labelled_examples, make_example, write_tfrecords
from tfx_transfer.components.bottleneck_extractor import extraction
from tfx_transfer.trainer.base import base_model as bm
from tfx_transfer.trainer.base import base_source as bs
from tfx_transfer.trainer.base import feature_extractor as fe


@pytest.fixture(scope="module")
def extractor_dir(tmp_path_factory, tiny_cnn_path):
    directory = str(tmp_path_factory.mktemp("extractor"))
    source = bs.BaseModelSource(model_uri=tiny_cnn_path, cut_layer="flatten_1")
    model, preprocessing = bm.build_feature_extractor(source)
    info = fe.FeatureExtractorInfo(
        preprocessing=preprocessing, cuts=(("flatten_1", 196),), fine_tunable=True, source=source.describe(),
        fingerprint={"pooling": "avg"},
    )
    fe.save_feature_extractor(model, info, directory)
    return directory


def _summary(serialized: bytes):
    example = tf.train.Example.FromString(serialized)
    feature = example.features.feature
    return (
        feature["id"].bytes_list.value[0].decode() if "id" in feature else None,
        len(feature["bottleneck/flatten_1"].float_list.value) if "bottleneck/flatten_1" in feature else None,
        feature["reason"].bytes_list.value[0].decode() if "reason" in feature else None,
    )


def test_every_example_leaves_through_exactly_one_output(extractor_dir):
    good = labelled_examples(5)
    bad = make_example(b"GIF89a\x00\x00\x00\x00", "cat", "zero.gif")
    config = extraction.ExtractionConfig(batch_size=2)
    with TestPipeline() as pipeline:
        outputs = (
            pipeline
            | "CreateExamples" >> beam.Create([e.SerializeToString() for e in good + [bad]])
            | "ExtractBottlenecks[train]" >> extraction.ExtractBottlenecks(extractor_dir, config, "train")
        )
        assert_that(
            outputs["bottlenecks"] | "SummariseOut" >> beam.Map(_summary),
            equal_to([(f"img_{i}.png", 196, None) for i in range(5)]),
            label="CheckBottlenecks",
        )
        assert_that(
            outputs["rejected"] | "SummariseRejected" >> beam.Map(_summary),
            equal_to([("zero.gif", None, "zero_size_image")]),
            label="CheckRejected",
        )
    counts = extraction.split_counts(pipeline.result, ["train"])["train"]
    assert counts["examples_in"] == 6
    assert counts["examples_out"] == 5
    assert counts["examples_rejected"] == 1
    assert counts["rejected_zero_size_image"] == 1


def test_progress_lines_are_spaced_and_say_how_much_is_left():
    now = [100.0]
    progress = extraction.Progress("train", total=1000, every_s=10.0, clock=lambda: now[0])
    lines = []
    for _ in range(400):  # 40 images/s
        now[0] += 0.025
        lines.append(progress.tick())
    assert [line for line in lines if line] == []  # the clock started at the first tick: 9.975 s later, not yet due
    now[0] += 0.1
    line = progress.tick()
    assert line == "  BottleneckExtractor [train]: 401/~1,000 images, 40 images/s, about 15 s left"
    assert progress.tick() is None  # the next line only after another 10 s
    unknown = extraction.Progress("eval", total=None, every_s=0.0, clock=lambda: now[0])
    unknown.tick()
    now[0] += 2.0
    assert unknown.tick() == "  BottleneckExtractor [eval]: 2 images, 1 images/s"


def test_records_are_counted_unless_too_big(tmp_path):
    from tfx_transfer.trainer.data import record_counts

    write_tfrecords(str(tmp_path / "a"), [b"x"] * 7)
    assert record_counts.count_records(str(tmp_path / "a" / "*"), max_bytes=1 << 20) == 7
    assert record_counts.count_records(str(tmp_path / "a" / "*")) == 7
    assert record_counts.count_records(str(tmp_path / "a" / "*"), max_bytes=1) is None
    assert record_counts.count_records(str(tmp_path / "none" / "*"), max_bytes=1 << 20) is None


def test_the_steps_that_read_and_write_records_switch_beam_to_the_c_crc(extractor_dir, monkeypatch):
    import google_crc32c
    from apache_beam.io import tfrecordio

    monkeypatch.setattr(tfrecordio._default_crc32c_fn, "fn", None)
    with TestPipeline() as pipeline:
        outputs = (
            pipeline
            | "CreateExamples" >> beam.Create([e.SerializeToString() for e in labelled_examples(2)])
            | "ExtractBottlenecks[train]" >> extraction.ExtractBottlenecks(
                extractor_dir, extraction.ExtractionConfig(batch_size=2), "train")
        )
        assert_that(outputs["bottlenecks"] | "Count" >> beam.combiners.Count.Globally(), equal_to([2]))
    assert tfrecordio._default_crc32c_fn.fn is google_crc32c.value
