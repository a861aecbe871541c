"""The label vocabulary: class names <-> integer class indices.

One `LabelVocabulary` is the single source of the class order. The input pipelines map label
names to indices with it (`lookup_table` in tf.data, `find` / `index_of` in Python) and the
serving signature returns `names[argmax]`, so training and serving always agree on which output
column is which class. Names come from a TF Transform vocabulary file (whose line order already
fixes the indices Transform wrote) or from the label values seen in the data (sorted).
"""

from __future__ import annotations

import dataclasses
import difflib
import functools
from typing import Dict, Iterable, Optional, Tuple, Union

import tensorflow as tf

LabelValue = Union[bytes, str, int]

# The class names, one per line in class-index order, as FineTuner writes them into `model_run`.
LABELS_FILE = "labels.txt"

def labels_file_text(names: Iterable[str]) -> str:
    """`LABELS_FILE`'s text: one class name per line, in class-index order."""
    return "".join(f"{name}\n" for name in names)


def parse_labels_file(data: bytes) -> Tuple[str, ...]:
    """The class names of `LABELS_FILE`'s bytes (`labels_file_text`), in class-index order."""
    return tuple(line for line in data.decode("utf-8").splitlines() if line)


# How many valid names an error message lists.
_NAMES_IN_ERRORS = 5


class LabelError(ValueError):
    """A label value, vocabulary or class count that does not fit the data."""


def _python_value(value):
    """numpy scalars (what tf.data yields) as plain Python values."""
    return value.item() if hasattr(value, "item") and not isinstance(value, (bytes, str)) else value


def label_name(value: LabelValue) -> str:
    """The vocabulary name of a label value: bytes are UTF-8 decoded, ints become their digits."""
    value = _python_value(value)
    if isinstance(value, bytes):
        return value.decode("utf-8")
    if isinstance(value, str):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    raise LabelError(f"Label {value!r} has type {type(value).__name__}; valid types are bytes, str and int.")


def _sort_key(value: LabelValue):
    """Ints sort numerically (so names '0'..'10' keep index == value), everything else by name."""
    value = _python_value(value)
    if isinstance(value, int) and not isinstance(value, bool):
        return (0, value, "")
    return (1, 0, label_name(value))


@dataclasses.dataclass(frozen=True)
class LabelVocabulary:
    """The ordered class names; the position of a name is its class index."""

    names: Tuple[str, ...]

    def __post_init__(self) -> None:
        names = tuple(self.names)
        object.__setattr__(self, "names", names)
        if not names:
            raise LabelError("The label vocabulary is empty; valid vocabularies hold at least one name.")
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise LabelError(f"The label vocabulary repeats {duplicates[:_NAMES_IN_ERRORS]}; names must be unique.")

    @classmethod
    def from_labels(cls, values: Iterable[LabelValue]) -> "LabelVocabulary":
        """The sorted unique names of `values` (bytes, str or int; ints sort numerically)."""
        unique = {label_name(v): v for v in values}
        ordered = sorted(unique.values(), key=_sort_key)
        return cls(tuple(label_name(v) for v in ordered))

    @classmethod
    def from_vocabulary_file(cls, path: str) -> "LabelVocabulary":
        """Reads a TF Transform vocabulary file: one name per line, line i is class index i.

        (Files written with `store_frequency=True`, "count name" per line, are not supported.)
        """
        if not tf.io.gfile.exists(path):
            raise LabelError(f"Label vocabulary file {path!r} does not exist.")
        with tf.io.gfile.GFile(path, "rb") as f:
            lines = f.read().decode("utf-8").splitlines()
        if lines and lines[-1] == "":
            lines = lines[:-1]
        if not lines:
            raise LabelError(f"Label vocabulary file {path!r} is empty; it must hold one name per line.")
        return cls(tuple(lines))

    @property
    def num_classes(self) -> int:
        return len(self.names)

    @functools.cached_property
    def _index(self) -> Dict[str, int]:
        return {name: i for i, name in enumerate(self.names)}

    def find(self, value: LabelValue) -> int:
        """The class index of `value`, or -1 when it is not in the vocabulary (like `lookup_table`)."""
        return self._index.get(label_name(value), -1)

    def index_of(self, value: LabelValue) -> int:
        """The class index of `value`; raises `LabelError` naming close valid names when unknown."""
        index = self.find(value)
        if index < 0:
            raise LabelError(
                f"Label {value!r} is not in the label vocabulary of {self.num_classes} classes. "
                f"Closest valid names: {self.closest_names(label_name(value))}."
            )
        return index

    def closest_names(self, name: str, n: int = _NAMES_IN_ERRORS) -> list:
        """Up to `n` vocabulary names close to `name` (the first names when none is close)."""
        return difflib.get_close_matches(name, self.names, n=n, cutoff=0.5) or list(self.names[:n])

    def lookup_table(self) -> tf.lookup.StaticHashTable:
        """A string -> int64 table for tf.data; unknown names map to -1 so callers can count them."""
        return tf.lookup.StaticHashTable(
            tf.lookup.KeyValueTensorInitializer(
                keys=tf.constant(self.names, dtype=tf.string),
                values=tf.range(self.num_classes, dtype=tf.int64),
            ),
            default_value=-1,
        )


def check_num_classes(num_classes: Optional[int], vocabulary: LabelVocabulary) -> int:
    """Returns the class count, checking a user-given `num_classes` against the vocabulary size."""
    if num_classes is None:
        return vocabulary.num_classes
    if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes != vocabulary.num_classes:
        raise LabelError(
            f"num_classes={num_classes!r} does not match the label vocabulary, which has "
            f"{vocabulary.num_classes} classes ({list(vocabulary.names[:_NAMES_IN_ERRORS])}"
            f"{', ...' if vocabulary.num_classes > _NAMES_IN_ERRORS else ''}); set "
            f"num_classes={vocabulary.num_classes} or leave it unset."
        )
    return num_classes


def check_trainable_vocabulary(vocabulary: LabelVocabulary) -> None:
    """A classifier needs at least two classes."""
    if vocabulary.num_classes < 2:
        raise LabelError(
            f"The labels hold only {list(vocabulary.names)}; a classifier needs at least 2 classes."
        )


def check_labels_in_vocabulary(values: Iterable[LabelValue], vocabulary: LabelVocabulary) -> None:
    """Every label value must be a class of the vocabulary (names, or indices below its size).

    Used when the vocabulary comes from elsewhere (a Transform vocabulary, a file), where a
    label outside it means the data and the vocabulary disagree.
    """
    unknown = sorted(
        {
            label_name(v)
            for v in values
            if (v < 0 or v >= vocabulary.num_classes if isinstance(v, int) else vocabulary.find(v) < 0)
        }
    )
    if unknown:
        raise LabelError(
            f"{len(unknown)} label value(s) are outside the label vocabulary of "
            f"{vocabulary.num_classes} classes: {unknown[:_NAMES_IN_ERRORS]}. Closest valid names "
            f"for {unknown[0]!r}: {vocabulary.closest_names(unknown[0])}. Regenerate the vocabulary "
            "from the same data, or fix the labels."
        )
