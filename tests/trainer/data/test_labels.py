"""LabelVocabulary: construction, lookups in Python and tf.data, and its errors."""

import numpy as np
import pytest
import tensorflow as tf

from tfx_transfer.trainer.data.labels import LabelError, LabelVocabulary, check_num_classes, check_trainable_vocabulary


def test_from_labels_sorts_unique_names_of_bytes_str_and_numpy_values():
    vocabulary = LabelVocabulary.from_labels([b"dog", "cat", np.bytes_(b"dog"), "ant"])
    assert vocabulary.names == ("ant", "cat", "dog")
    assert vocabulary.num_classes == 3


def test_from_labels_sorts_ints_numerically_so_index_equals_value():
    vocabulary = LabelVocabulary.from_labels([10, 2, np.int64(0), 1, 3, 4, 5, 6, 7, 8, 9])
    assert vocabulary.names == tuple(str(i) for i in range(11))
    assert vocabulary.index_of(10) == 10


def test_from_vocabulary_file_keeps_line_order(tmp_path):
    path = tmp_path / "vocab"
    path.write_text("zebra\napple\nmango\n")
    vocabulary = LabelVocabulary.from_vocabulary_file(str(path))
    assert vocabulary.names == ("zebra", "apple", "mango")
    assert vocabulary.index_of(b"apple") == 1


@pytest.mark.parametrize("content", ["", "\n"])
def test_empty_vocabulary_file_is_an_error(tmp_path, content):
    path = tmp_path / "vocab"
    path.write_text(content)
    with pytest.raises(LabelError, match="empty"):
        LabelVocabulary.from_vocabulary_file(str(path))


def test_missing_vocabulary_file_is_an_error(tmp_path):
    with pytest.raises(LabelError, match="does not exist"):
        LabelVocabulary.from_vocabulary_file(str(tmp_path / "nope"))


def test_duplicate_names_are_an_error():
    with pytest.raises(LabelError, match="repeats \\['cat'\\]"):
        LabelVocabulary(("cat", "dog", "cat"))


def test_index_of_unknown_label_names_the_value_and_close_names():
    vocabulary = LabelVocabulary(("cat", "dog", "horse"))
    assert vocabulary.find("cow") == -1
    with pytest.raises(LabelError, match="'cats'.*Closest valid names: \\['cat'\\]"):
        vocabulary.index_of("cats")


def test_lookup_table_maps_known_names_and_unknown_to_minus_one():
    vocabulary = LabelVocabulary(("cat", "dog"))
    table = vocabulary.lookup_table()
    result = table.lookup(tf.constant([b"dog", b"cat", b"cow"])).numpy()
    assert result.tolist() == [1, 0, -1]
    assert result.dtype == np.int64


def test_lookup_table_works_inside_tf_data():
    vocabulary = LabelVocabulary(("cat", "dog"))
    table = vocabulary.lookup_table()
    dataset = tf.data.Dataset.from_tensor_slices([b"dog", b"x"]).map(table.lookup)
    assert list(dataset.as_numpy_iterator()) == [1, -1]


def test_check_num_classes_accepts_match_and_none():
    vocabulary = LabelVocabulary(("a", "b", "c"))
    assert check_num_classes(3, vocabulary) == 3
    assert check_num_classes(None, vocabulary) == 3


def test_check_num_classes_mismatch_names_both_counts():
    with pytest.raises(LabelError, match="num_classes=5 .* has 3 classes .*num_classes=3"):
        check_num_classes(5, LabelVocabulary(("a", "b", "c")))


def test_a_single_class_cannot_be_trained():
    with pytest.raises(LabelError, match="at least 2 classes"):
        check_trainable_vocabulary(LabelVocabulary(("only",)))
