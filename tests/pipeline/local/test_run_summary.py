"""The printed run summary: the decision, the control's cost, and the reasons."""

from __future__ import annotations

from tfx_transfer.pipeline.local import run_summary


def test_the_decision_prints_the_exported_model_the_control_and_its_cost(capsys):
    run_summary._print_decision({
        "cut_layer": "dense+flatten", "strategy": "feature_extraction", "exported": "ensemble",
        "transfer_accuracy": 0.84, "reasons": ["Negative transfer: the control beat it."],
        "control": {"kind": "scratch", "validation_accuracy": 0.88, "seconds": 21.24, "parameters": 52485},
    })
    assert capsys.readouterr().out.splitlines() == [
        "  cut: dense+flatten, strategy: feature_extraction, exported: ensemble (validation accuracy 0.840, control 0.880)",
        "  no-transfer control: scratch, 21.2 s to train (52,485 parameters)",
        "    - Negative transfer: the control beat it.",
    ]


def test_a_run_without_a_control_prints_no_control_line(capsys):
    run_summary._print_decision({"cut_layer": "flatten", "strategy": "fine_tune", "transfer_accuracy": None, "reasons": []})
    assert capsys.readouterr().out.splitlines() == ["  cut: flatten, strategy: fine_tune, exported: transfer"]
