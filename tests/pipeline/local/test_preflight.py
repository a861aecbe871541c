"""The local folder check before a run: bad files named with a reason, OS metadata only counted."""

from __future__ import annotations

import os

from testdata import png_bytes
from tfx_transfer.pipeline import cli
from tfx_transfer.pipeline.local import preflight
from tfx_transfer.trainer.data import preprocessing as pp

OS_FILES = (".DS_Store", "train/cat/._0.png", "__MACOSX/train/cat/._0.png", "train/dog/Thumbs.db", "eval/cat/desktop.ini",
            ".git/HEAD")


def _write(root, name: str, data: bytes) -> None:
    path = os.path.join(root, name)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)


def _folder(root) -> None:
    for folder in ("train/cat", "train/dog", "eval/cat", "eval/dog"):
        for i in range(2):
            _write(root, f"{folder}/{i}.png", png_bytes(seed=i))
    for name in OS_FILES:
        _write(root, name, b"\x00\x05\x16\x07 metadata")


def test_os_metadata_is_ignored_and_real_bad_files_are_named(tmp_path):
    _folder(str(tmp_path))
    _write(str(tmp_path), "train/cat/notes.txt", b"not pixels")
    _write(str(tmp_path), "train/dog/photo.webp", b"RIFF\x24\x00\x00\x00WEBPVP8 ")
    _write(str(tmp_path), "eval/dog/scan.tif", b"II*\x00\x08\x00\x00\x00")
    bad, ignored = preflight.scan(str(tmp_path))
    assert sorted(os.path.relpath(path, tmp_path) for path in ignored) == sorted(OS_FILES)
    named = {os.path.relpath(path, tmp_path): reason for path, reason in bad}
    assert named == {
        "train/cat/notes.txt": preflight.REASON_NOT_AN_IMAGE,
        "train/dog/photo.webp": f"{pp.REASON_UNSUPPORTED_FORMAT} (webp; convert it to PNG or JPEG)",
        "eval/dog/scan.tif": f"{pp.REASON_UNSUPPORTED_FORMAT} (tiff; convert it to PNG or JPEG)",
    }
    on_disk = sum(len(files) for _, _, files in os.walk(tmp_path))
    assert on_disk == 8 + len(bad) + len(ignored)  # files = images + set aside + ignored


def test_the_cli_mentions_ignored_files_once_and_stops_only_for_real_bad_files(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    _folder(str(tmp_path / "data"))
    _write(str(tmp_path / "data"), "train/cat/notes.txt", b"not pixels")
    code = cli.main(["run", "--data-root", "data", "--pipeline-root", "root", "--base-model", "MobileNetV2",
                     "--weights", "none", "--image-size", "32"])
    captured = capsys.readouterr()
    assert code == 2
    assert f"Ignoring {len(OS_FILES)} operating-system metadata file(s) in data" in captured.out
    assert "1 file(s) in data are not readable images" in captured.err and "train/cat/notes.txt" in captured.err
    assert ".DS_Store" not in captured.err and "Thumbs.db" not in captured.err
    assert not os.path.exists(tmp_path / "root")
