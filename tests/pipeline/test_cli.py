"""`tfx-transfer` on bad input: a clear message, a non-zero exit, nothing written outside the root."""

from __future__ import annotations

import os

import pytest

from testdata import png_bytes
from tfx_transfer.pipeline import cli


def _write_images(root, layout):
    """layout: {relative folder: number of PNGs}."""
    for folder, count in layout.items():
        os.makedirs(os.path.join(root, folder), exist_ok=True)
        for i in range(count):
            with open(os.path.join(root, folder, f"{i}.png"), "wb") as f:
                f.write(png_bytes(seed=i))


def _snapshot(directory):
    return sorted(os.path.relpath(os.path.join(r, n), directory) for r, _, files in os.walk(directory) for n in files)


@pytest.fixture
def workspace(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    data = tmp_path / "data"
    _write_images(str(data), {"train/cat": 3, "train/dog": 3, "eval/cat": 2, "eval/dog": 2})
    return tmp_path


def _run_cli(workspace, capsys, *argv):
    before = _snapshot(str(workspace))
    code = cli.main(list(argv))
    err = capsys.readouterr().err
    after = _snapshot(str(workspace))
    written = [p for p in after if p not in before and not p.startswith("root" + os.sep)]
    assert written == [], f"files written outside the pipeline root: {written}"
    assert not os.path.exists(workspace / "root"), "nothing may be written on a configuration error"
    return code, err


def _run_args(data_root, *extra):
    return ["run", "--data-root", data_root, "--pipeline-root", "root", "--base-model", "MobileNetV2",
            "--weights", "none", "--image-size", "32", *extra]


def test_missing_data_root(workspace, capsys):
    code, err = _run_cli(workspace, capsys, *_run_args("nowhere"))
    assert code == 2 and "--data-root 'nowhere' does not exist" in err


def test_a_missing_data_root_is_named_before_any_weights_are_fetched(workspace, capsys, monkeypatch):
    from tfx_transfer.trainer.base import base_model

    def no_download(*args, **kwargs):
        raise AssertionError("ImageNet weights were fetched before the local inputs were checked")

    monkeypatch.setattr(base_model, "fetch_imagenet_weights", no_download)
    args = _run_args("nowhere")
    args[args.index("none")] = "imagenet"
    code, err = _run_cli(workspace, capsys, *args)
    assert code == 2 and "--data-root 'nowhere' does not exist" in err and "Traceback" not in err


def test_an_unknown_preprocessing_is_named(workspace, capsys):
    code, err = _run_cli(workspace, capsys, *_run_args("data", "--preprocessing", "0-1"))
    assert code == 2 and "Unknown preprocessing '0-1'; valid values are ['tf', 'torch', 'caffe', 'unit', 'none']" in err


def test_preprocessing_reaches_the_extractor():
    settings = {"base_model": "model.keras", "preprocessing": "unit"}
    assert cli.extractor_args(settings) == {"model_uri": "model.keras", "preprocessing": "unit"}
    assert "preprocessing" not in cli.extractor_args({"base_model": "model.keras"})


def test_empty_data_root(workspace, capsys):
    os.makedirs(workspace / "empty")
    code, err = _run_cli(workspace, capsys, *_run_args("empty"))
    assert code == 2 and "input_base 'empty' has no images in folders" in err


def test_single_class(workspace, capsys):
    _write_images(str(workspace / "one"), {"cat": 4})
    code, err = _run_cli(workspace, capsys, *_run_args("one"))
    assert code == 2 and "single class 'cat'" in err


def test_class_without_evaluation_examples(workspace, capsys):
    _write_images(str(workspace / "noeval"), {"train/cat": 2, "train/dog": 2, "train/fox": 2, "eval/cat": 1, "eval/dog": 1})
    code, err = _run_cli(workspace, capsys, *_run_args("noeval"))
    assert code == 2 and "Split 'eval' has no examples of class(es) 'fox'" in err


def test_non_image_and_unreadable_files(workspace, capsys):
    with open(workspace / "data" / "train" / "cat" / "notes.txt", "w") as f:
        f.write("not an image")
    os.symlink(str(workspace / "gone.png"), str(workspace / "data" / "train" / "dog" / "broken.png"))
    code, err = _run_cli(workspace, capsys, *_run_args("data"))
    assert code == 2
    assert "train/cat/notes.txt: not_an_image" in err and "train/dog/broken.png: unreadable" in err
    assert "--skip-bad-files" in err


def test_unknown_base_model(workspace, capsys):
    args = _run_args("data")
    args[args.index("MobileNetV2")] = "MobileNetV9"
    code, err = _run_cli(workspace, capsys, *args)
    assert code == 2 and "Unknown keras_application 'MobileNetV9'" in err and "MobileNetV2" in err


def test_bad_cut_layer(workspace, capsys):
    code, err = _run_cli(workspace, capsys, *_run_args("data", "--cut-layer", "block_99_project"))
    assert code == 2 and "cut_layer 'block_99_project' is not a layer" in err and "Closest layer names" in err


def test_unknown_config_key(workspace, capsys):
    (workspace / "c.yaml").write_text("data_root: data\nbase_model: MobileNetV2\nlearning_rte: 0.1\n")
    code, err = _run_cli(workspace, capsys, "run", "--config", "c.yaml", "--pipeline-root", "root")
    assert code == 2 and "Unknown keys ['learning_rte']" in err


def test_bad_cron(workspace, capsys):
    (workspace / "p.json").write_text("{}")
    code, err = _run_cli(workspace, capsys, "submit", "p.json", "--host", "http://127.0.0.1:9", "--schedule", "every day")
    assert code == 2 and "every day" in err


def test_unreachable_kfp_host(workspace, capsys, tmp_path):
    import socket

    with socket.socket() as s:  # A port nothing listens on.
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    package = tmp_path / "p.json"
    package.write_text('{"pipelineSpec": {"pipelineInfo": {"name": "x"}, "root": {}, "defaultPipelineRoot": "gs://b/r"}}')
    code, err = _run_cli(workspace, capsys, "submit", "p.json", "--host", f"http://127.0.0.1:{port}", "--timeout", "2")
    assert code == 1 and f"Cannot reach KFP host http://127.0.0.1:{port}" in err


def test_offline_imagenet_weights_fail_in_one_sentence(workspace, capsys, monkeypatch):
    import urllib.error

    from keras.src.utils import file_utils

    from tfx_transfer.trainer.common import keras_compat

    def offline(*args, **kwargs):
        raise urllib.error.URLError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(file_utils, "urlretrieve", offline)
    monkeypatch.setattr(keras_compat, "keras_home", lambda: str(workspace / "keras_home"))
    monkeypatch.setattr(file_utils.config, "keras_home", lambda: str(workspace / "keras_home"))  # an empty cache
    args = _run_args("data")
    args[args.index("none")] = "imagenet"
    before = _snapshot(str(workspace))
    code = cli.main(args)
    err = capsys.readouterr().err
    assert code == 2
    assert "Traceback" not in err and err.count("\n") == 1  # one line
    assert "Could not download the ImageNet weights of MobileNetV2 (mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_224_no_top.h5)" in err
    assert "seems to be offline" in err and "tfx-transfer fetch-weights MobileNetV2 --image-size 32" in err
    assert "--weights /path/to/mobilenet_v2" in err
    assert not os.path.exists(workspace / "root")
    assert [p for p in _snapshot(str(workspace)) if p not in before and not p.startswith("keras_home")] == []


def test_fetch_weights_names_a_bad_application_and_an_offline_machine(tmp_path, capsys, monkeypatch):
    import urllib.error

    from keras.src.utils import file_utils

    def offline(*args, **kwargs):
        raise urllib.error.URLError("[Errno 101] Network is unreachable")

    monkeypatch.setattr(file_utils, "urlretrieve", offline)
    monkeypatch.setattr(file_utils.config, "keras_home", lambda: str(tmp_path / "keras_home"))
    assert cli.main(["fetch-weights", "MobileNetV9"]) == 2
    assert "Unknown keras_application 'MobileNetV9'" in capsys.readouterr().err
    assert cli.main(["fetch-weights", "MobileNetV2", "--image-size", "160"]) == 2
    err = capsys.readouterr().err
    assert "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_160_no_top.h5" in err and "Network is unreachable" in err


def test_missing_unlabelled_root(workspace, capsys):
    code, err = _run_cli(workspace, capsys, *_run_args("data", "--unlabelled-root", "nowhere"))
    assert code == 2 and "--unlabelled-root 'nowhere' does not exist" in err


def test_unlabelled_root_without_images(workspace, capsys):
    os.makedirs(workspace / "serving" / "deep")
    code, err = _run_cli(workspace, capsys, *_run_args("data", "--unlabelled-root", "serving"))
    assert code == 2 and "Unlabelled images folder" in err and "holds no png, jpeg, gif or bmp files at any depth" in err


def test_unknown_adaptation_is_refused_by_the_parser(workspace, capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(_run_args("data", "--adaptation", "kmm"))
    assert exit_info.value.code == 2 and "invalid choice: 'kmm'" in capsys.readouterr().err


def test_drift_check_without_a_pushed_model(workspace, capsys):
    os.makedirs(workspace / "root_without_runs")
    code = cli.main(["drift", "--serving-root", "data", "--pipeline-root", "root_without_runs"])
    assert code == 2 and "No model was pushed from" in capsys.readouterr().err


def test_a_non_boolean_drop_suspect_labels_is_named(workspace, capsys):
    (workspace / "c.yaml").write_text("data_root: data\nbase_model: MobileNetV2\nweights: none\nimage_size: 32\n"
                                      "drop_suspect_labels: maybe\n")
    code, err = _run_cli(workspace, capsys, "run", "--config", "c.yaml", "--pipeline-root", "root")
    assert code == 2 and "drop_suspect_labels='maybe' is invalid; valid values are true and false" in err
    assert "Traceback" not in err


def test_a_label_budget_below_one_is_named(workspace, capsys):
    code, err = _run_cli(workspace, capsys, *_run_args("data", "--label-budget", "0"))
    assert code == 2 and "label_budget=0 is invalid; valid values are ints >= 1" in err and "Traceback" not in err
