"""Thumbnails of listed images: shrunk PNGs in model_run, found by id in raw example files."""

from __future__ import annotations

import os

import numpy as np
import tensorflow as tf

from testdata import png_bytes
from tfx_transfer.trainer.labelling import thumbnails


def _example(image_id: str, image: bytes) -> bytes:
    feature = {"id": tf.train.Feature(bytes_list=tf.train.BytesList(value=[image_id.encode()])),
               "image": tf.train.Feature(bytes_list=tf.train.BytesList(value=[image]))}
    return tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString()


def test_a_thumbnail_fits_the_size_and_keeps_the_aspect():
    png = thumbnails.thumbnail_png(png_bytes(200, 100, seed=1), size=64)
    decoded = tf.io.decode_png(png).numpy()
    assert decoded.shape == (64, 32, 3)
    small = tf.io.decode_png(thumbnails.thumbnail_png(png_bytes(16, 8, seed=1))).numpy()
    assert small.shape == (16, 8, 3)  # never enlarged
    assert thumbnails.thumbnail_png(b"not an image") is None


def test_listed_images_get_thumbnails_from_the_raw_examples(tmp_path):
    path = str(tmp_path / "raw.tfrecord")
    with tf.io.TFRecordWriter(path) as writer:
        for i in range(4):
            writer.write(_example(f"img{i}", png_bytes(20, 20, seed=i)))
        writer.write(_example("broken", b"not an image"))
    lookup = thumbnails.lookup_in([path], "image")
    records = [{"id": "img2"}, {"id": "missing"}, {"id": "broken"}, {"id": "img0"}]
    listed = thumbnails.add_thumbnails(records, lookup, str(tmp_path / "run"), "label_next")
    assert [r.get("thumbnail") for r in listed] == ["thumbnails/label_next/001.png", None, None, "thumbnails/label_next/004.png"]
    first = tf.io.decode_png(open(tmp_path / "run" / "thumbnails" / "label_next" / "001.png", "rb").read()).numpy()
    assert np.array_equal(first, tf.io.decode_png(png_bytes(20, 20, seed=2)).numpy()[..., :3])
    assert sorted(os.listdir(tmp_path / "run" / "thumbnails" / "label_next")) == ["001.png", "004.png"]
    assert thumbnails.lookup_in(None, "image") is None
    assert thumbnails.add_thumbnails(records, None, str(tmp_path), "x") == records


def test_only_the_first_shown_get_thumbnails(tmp_path, monkeypatch):
    monkeypatch.setattr(thumbnails, "SHOWN", 2)
    asked = []
    records = [{"id": f"img{i}"} for i in range(3)]
    listed = thumbnails.add_thumbnails(records, lambda ids: asked.extend(ids) or {i: png_bytes(seed=1) for i in ids},
                                       str(tmp_path), "k")
    assert asked == ["img0", "img1"] and len(listed) == 3 and "thumbnail" not in listed[2]
    found = thumbnails.read_thumbnails({"images": listed}, str(tmp_path), lambda p: open(p, "rb").read())
    assert sorted(found) == ["thumbnails/k/001.png", "thumbnails/k/002.png"]
