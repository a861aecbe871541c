"""`tfx-transfer label-next`'s bad inputs; the whole verb runs in the e2e test against a pushed model."""

from __future__ import annotations

import pytest

from testdata import png_bytes
from tfx_transfer.pipeline import cli


@pytest.mark.parametrize("budget", ["0", "-5"])
def test_a_budget_below_one_is_named_with_exit_code_2(tmp_path, capsys, budget):
    code = cli.main(["label-next", "--unlabelled-root", str(tmp_path), "--pipeline-root", str(tmp_path), "--budget", budget])
    err = capsys.readouterr().err
    assert code == 2 and f"label_budget={int(budget)} is invalid; valid values are ints >= 1" in err
    assert "Traceback" not in err


def test_a_root_without_a_pushed_model_is_named_with_exit_code_2(tmp_path, capsys):
    (tmp_path / "images").mkdir()
    (tmp_path / "images" / "a.png").write_bytes(png_bytes(seed=1))
    code = cli.main(["label-next", "--unlabelled-root", str(tmp_path / "images"), "--pipeline-root", str(tmp_path / "root")])
    err = capsys.readouterr().err
    assert code == 2 and "No model was pushed from" in err and "root" in err and "Traceback" not in err


def test_a_budget_that_is_not_an_int_is_refused_by_the_parser(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["label-next", "--unlabelled-root", str(tmp_path), "--budget", "ten"])
    assert exit_info.value.code == 2 and "invalid int value: 'ten'" in capsys.readouterr().err
