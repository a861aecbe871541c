"""The private Beam internal `components/beam_compat.py` uses still exists and behaves as assumed.

A failure here means a Beam upgrade changed it: the message names it, and the fix belongs in
`beam_compat.py` alone.
"""

from __future__ import annotations

import io

import crcmod.predefined
import tensorflow as tf
from apache_beam.io import tfrecordio

from tfx_transfer.components import beam_compat


def _fail(what: str) -> str:
    return f"Beam internal {beam_compat.TFRECORD_CRC32C_FN} changed: {what}. Update tfx_transfer/components/beam_compat.py."


def test_the_crc_hook_exists_and_is_what_records_are_checked_with(monkeypatch):
    hook = getattr(tfrecordio, "_default_crc32c_fn", None)
    assert callable(hook) and hasattr(hook, "fn"), _fail("it is gone")
    monkeypatch.setattr(hook, "fn", lambda value: 0)
    masked_zero = ((0 >> 15) | (0 << 17)) + 0xA282EAD8
    assert tfrecordio._TFRecordUtil._masked_crc32c(b"record") == masked_zero, _fail(
        "records are no longer checked with it")


def test_fast_crc_gives_the_same_checksums_and_records_tf_reads(monkeypatch):
    monkeypatch.setattr(tfrecordio._default_crc32c_fn, "fn", None)
    assert beam_compat.use_fast_crc32c() is True, "google-crc32c has no C implementation here"
    crcmod_fn = crcmod.predefined.mkPredefinedCrcFun("crc-32c")
    for value in (b"", b"a", bytes(range(256)) * 50):
        assert tfrecordio._default_crc32c_fn(value) == crcmod_fn(value), _fail(f"a different CRC for {len(value)} bytes")
    buffer = io.BytesIO()
    tfrecordio._TFRecordUtil.write_record(buffer, b"payload")
    buffer.seek(0)
    assert tfrecordio._TFRecordUtil.read_record(buffer) == b"payload", _fail("a record it wrote no longer reads back")


def test_records_written_with_the_fast_crc_are_read_by_tensorflow(monkeypatch, tmp_path):
    monkeypatch.setattr(tfrecordio._default_crc32c_fn, "fn", None)
    beam_compat.use_fast_crc32c()
    path = tmp_path / "records.tfrecord"
    with open(path, "wb") as handle:
        for record in (b"first", b"second" * 1000):
            tfrecordio._TFRecordUtil.write_record(handle, record)
    assert [r.numpy() for r in tf.data.TFRecordDataset(str(path))] == [b"first", b"second" * 1000]
