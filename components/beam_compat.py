"""Every use of a private Apache Beam internal, in one place (Beam 2.60).

Beam offers no public API for this need. The access below is checked by
`tests/components/test_beam_compat.py`, which fails with a message naming the internal when a
Beam upgrade removes it or changes its shape, instead of extraction silently slowing down.

- `use_fast_crc32c()`: Beam's TFRecord reader checks, and its writer computes, a CRC-32C of every
  record (`apache_beam.io.tfrecordio._default_crc32c_fn.fn`). Beam looks for python-snappy's and
  otherwise falls back to crcmod's: about 27 us for a 12 KB image record, against 0.7 us with
  google-crc32c's C implementation, which Beam's `gcp` extra already installs (through
  google-cloud-storage). Over 16,000 such records that is about 0.45 s of one core, in the same
  thread that feeds the feature extractor.
"""

from __future__ import annotations

import google_crc32c
from apache_beam.io import tfrecordio

# The name of the internal, as the compat test reports it.
TFRECORD_CRC32C_FN = "apache_beam.io.tfrecordio._default_crc32c_fn.fn"


def use_fast_crc32c() -> bool:
    """Makes Beam's TFRecord IO in this process use google-crc32c's C CRC-32C.

    Returns False, and changes nothing, when google-crc32c has only its pure-Python fallback
    (slower than crcmod's extension). The checksums are identical either way.
    """
    if google_crc32c.implementation != "c":
        return False
    tfrecordio._default_crc32c_fn.fn = google_crc32c.value  # pylint: disable=protected-access
    return True
