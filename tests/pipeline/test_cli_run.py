"""`tfx-transfer run` end to end from a YAML config: summary.json, report, every set-aside file named."""

from __future__ import annotations

import io
import json
import os
import shutil
import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from tfx_transfer.pipeline import cli
from tfx_transfer.trainer.data import preprocessing as pp

pytestmark = pytest.mark.slow


def _pil(image: Image.Image, fmt: str, **kwargs) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **kwargs)
    return buffer.getvalue()


def _png_bomb(side: int = 40_000) -> bytes:
    """A PNG header claiming side x side pixels: refused from its header, never inflated."""
    header = struct.pack(">IIBBBBB", side, side, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + struct.pack(">I", 13) + b"IHDR" + header + struct.pack(">I", zlib.crc32(b"IHDR" + header))


def _odd_files() -> dict:
    """{relative path: (bytes, why it is set aside, or None when it is a usable image)} below a class folder."""
    rng = np.random.default_rng(0)
    rgb = Image.fromarray(rng.integers(0, 255, (32, 32, 3), dtype=np.uint8))
    png = _pil(rgb, "PNG")
    frames = [Image.fromarray(rng.integers(0, 255, (32, 32, 3), dtype=np.uint8)) for _ in range(2)]
    return {
        "corrupt.png": (rng.integers(0, 255, 300, dtype=np.uint8).tobytes(), "set aside"),
        "truncated.png": (png[: len(png) // 2], pp.REASON_UNDECODABLE),
        "empty.png": (b"", "set aside"),
        "bomb.png": (_png_bomb(), pp.REASON_TOO_MANY_PIXELS),
        "notes.txt": (b"these are not pixels", "set aside"),
        "grey.png": (_pil(rgb.convert("L"), "PNG"), None),
        "rgba.png": (_pil(rgb.convert("RGBA"), "PNG"), None),
        "cmyk.jpg": (_pil(rgb.convert("CMYK"), "JPEG"), None),
        "deep.png": (_pil(Image.fromarray((rng.integers(0, 65535, (32, 32))).astype(np.uint16)), "PNG"), None),
        "animated.gif": (_pil(frames[0], "GIF", save_all=True, append_images=frames[1:]), None),
        "photo.webp": (_pil(rgb, "WEBP"), pp.REASON_UNSUPPORTED_FORMAT),
        "dot.png": (_pil(rgb.resize((1, 1)), "PNG"), None),
        "strip.png": (_pil(rgb.resize((1, 400)), "PNG"), None),
        "really_a_png.jpg": (png, None),
        "café au lait é.png": (png, None),
    }


OS_FILES = (".DS_Store", "train/circle/._0.png", "train/square/Thumbs.db", "__MACOSX/train/circle/._0.png",
            "eval/circle/desktop.ini")


def _planted_folder(image_folder: str, root) -> tuple:
    """A copy of `image_folder` with the odd files in train/circle and OS metadata; returns (root, bad ids)."""
    data = str(root / "data")
    shutil.copytree(image_folder, data)
    bad = set()
    for name, (content, why) in _odd_files().items():
        with open(os.path.join(data, "train", "circle", name), "wb") as f:
            f.write(content)
        if why:
            bad.add(f"train/circle/{name}")
    for name in OS_FILES:
        os.makedirs(os.path.dirname(os.path.join(data, name)), exist_ok=True)
        with open(os.path.join(data, name), "wb") as f:
            f.write(b"\x00\x05\x16\x07 metadata")
    return data, bad


def test_run_from_a_config_file(tmp_path, image_folder, tiny_cnn_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    data, bad = _planted_folder(image_folder, tmp_path)
    config = tmp_path / "run.yaml"
    config.write_text(
        f"data_root: {data}\nbase_model: {tiny_cnn_path}\ncut_layer: flatten_1\n"
        "accuracy_threshold: 0.0\nfine_tuner: {epochs: 2, batch_size: 8}\nextractor: {batch_size: 8}\n"
    )
    refused = cli.main(["run", "--config", str(config), "--pipeline-root", "root"])
    err = capsys.readouterr().err
    assert refused == 2 and "train/circle/notes.txt: not_an_image" in err and "train/circle/photo.webp" in err
    assert "Thumbs.db" not in err and ".DS_Store" not in err  # metadata never needs --skip-bad-files
    code = cli.main(["run", "--config", str(config), "--pipeline-root", "root", "--skip-bad-files"])
    out = capsys.readouterr().out
    assert code == 0
    assert "> BottleneckExtractor started" in out and "< FineTuner finished in" in out
    assert "FineTuner: training the head on flatten_1" in out and "FineTuner: training the no-transfer control" in out
    summary = json.load(open(tmp_path / "root" / "summary.json"))
    set_aside = summary["data"]["set_aside"]
    assert {entry["id"] for entry in set_aside["files"]} == bad and set_aside["total"] == len(bad)
    assert all(entry["reason"] for entry in set_aside["files"])
    reasons = {entry["id"]: entry["reason"] for entry in set_aside["files"]}
    for name, (_, why) in _odd_files().items():
        if why and why != "set aside":
            assert reasons[f"train/circle/{name}"] == why
    assert f"{len(bad)} file(s) set aside:" in out and "train/circle/bomb.png: too_many_pixels" in out
    # The pipeline reads <split>/<label>/<file>: there, files on disk = examples + set aside + ignored.
    read = [os.path.relpath(os.path.join(folder, name), data) for folder, _, files in os.walk(data) for name in files]
    read = [path for path in read if path.count(os.sep) == 2]
    assert set_aside["ignored"] == len([name for name in OS_FILES if name.count("/") == 2]) == 3
    examples = sum(count["examples_out"] for count in summary["data"]["bottleneck_counts"].values())
    assert len(read) == examples + set_aside["total"] + set_aside["ignored"]
    assert summary["blessed"] is True and summary["pushed"] is True
    assert summary["data"]["bottleneck_counts"]["train"]["examples_out"] == 24 + len(_odd_files()) - len(bad)
    # The FineTuner reads the raw images of the bottleneck rows only: the broken ones never reach it.
    assert summary["strategy"]["control"]["validation_accuracy"] is not None, summary["strategy"]["control"]
    assert summary["data"]["feature_dims"] == {"flatten_1": 196}
    assert summary["components"]["BottleneckExtractor"]["cache_hit"] is False
    assert os.path.getsize(tmp_path / "root" / "report.html") > 10_000
    assert os.path.isdir(tmp_path / "root" / "serving")
