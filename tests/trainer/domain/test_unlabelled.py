"""Using unlabelled images in a run: too few, routing, semi-supervision, and the label-free choice on drift."""

import numpy as np
import pytest

import testdata
from tfx_transfer.trainer.domain import adaptation, unlabelled
from tfx_transfer.trainer.selection import validation
from tfx_transfer.trainer.training import head as head_lib


_domains = testdata.shifted_domains


def _in_run(requested, source, labels, target, monkeypatch, is_probe=True, head_probabilities=None):
    monkeypatch.setattr(adaptation, "ADAPTER_STEPS", 100)
    plan = validation.make_plan(labels, 0)
    head = adaptation.adapter_head(source, target, 2, head_lib.HeadConfig(), 0)
    head_fit = unlabelled.HeadFit(head, head_probabilities, 1.0, is_probe=is_probe)
    return unlabelled.use_unlabelled(requested, source, labels, target, 2, plan, head_fit, head_lib.HeadConfig(), 0)


def test_auto_semi_supervises_without_drift_and_adapts_with_it():
    probe_fit, mlp_fit = unlabelled.HeadFit(None, None, 1.0), unlabelled.HeadFit(None, None, 1.0, is_probe=False)
    assert unlabelled.route("auto", True, probe_fit) == "adapt"  # the routed label-free choice
    assert unlabelled.route("auto", True, mlp_fit) == "adapt"
    assert unlabelled.route("adapt", True, mlp_fit) == "adapt"
    assert unlabelled.route("auto", False, probe_fit) == "semi_supervised"
    assert unlabelled.route("auto", False, mlp_fit) is None  # an MLP head is not refitted on spread labels
    assert unlabelled.route("dann", False, probe_fit) == "dann"
    assert unlabelled.route("semi_supervised", True, mlp_fit) == "semi_supervised"


def test_auto_without_drift_semi_supervises_and_keeps_it_only_when_it_pays(monkeypatch):
    source, labels, _ = _domains()
    _, _, same_domain = _domains(seed=1, shift=0.0)
    perfect = np.eye(2)[labels]  # a labelled-only head that no refit can beat on the validation rows
    outcome = _in_run("auto", source, labels, same_domain, monkeypatch, head_probabilities=perfect)
    assert not outcome.record["drift"]["drift"] and outcome.record["method"] == "semi_supervised"
    assert outcome.head is None and not outcome.record["kept"]
    assert outcome.record["decided_by"] == unlabelled.DECIDED_BY_SEMI
    assert outcome.reason.startswith("No drift") and "did not pay" in outcome.reason
    wrong = np.eye(2)[1 - labels]  # one that any refit beats
    outcome = _in_run("auto", source, labels, same_domain, monkeypatch, head_probabilities=wrong)
    assert outcome.record["kept"] and outcome.head is not None and outcome.head.name == head_lib.HEAD_NAME
    assert outcome.probabilities.shape == (60, 2)


def test_auto_leaves_an_mlp_head_alone_without_drift(monkeypatch):
    source, labels, _ = _domains()
    _, _, same_domain = _domains(seed=1, shift=0.0)
    outcome = _in_run("auto", source, labels, same_domain, monkeypatch, is_probe=False)
    assert outcome.head is None and outcome.record["method"] is None and not outcome.record["drift"]["drift"]
    assert outcome.reason.startswith("Adaptation 'auto': No drift") and "not refitted" in outcome.reason


def test_an_asked_for_method_adapts_and_records_its_signals(monkeypatch):
    source, labels, target = _domains()
    outcome = _in_run("dann", source, labels, target, monkeypatch)
    assert outcome.head is not None and outcome.record["method"] == "dann" and outcome.record["kept"]
    assert outcome.record["drift"]["drift"] and outcome.probabilities.shape == (60, 2)
    assert not np.isnan(outcome.probabilities).all()
    assert set(outcome.record) >= {"source_validation_adapted", "prediction_domain_auc_adapted", "domain_accuracy_end"}
    assert outcome.reason.startswith("Adapted with dann as asked") and outcome.record["decided_by"] == "asked for"


@pytest.mark.parametrize("requested", ["auto", "mcc", "semi_supervised"])
def test_too_few_unlabelled_rows_are_not_adapted_to_and_the_run_says_why(requested, monkeypatch):
    source, labels, target = _domains()
    few = target[: unlabelled.MIN_UNLABELLED_ROWS - 1]
    outcome = _in_run(requested, source, labels, few, monkeypatch)
    assert outcome.head is None and outcome.probabilities is None
    assert outcome.record == {"requested": requested, "unlabelled_rows": len(few), "method": None, "kept": False,
                              "decided_by": "too few unlabelled images", "seconds": 0.0}
    assert f"{len(few)} unlabelled image(s) are too few to use (at least 50)" in outcome.reason
    enough = _in_run(requested, source, labels, target[: unlabelled.MIN_UNLABELLED_ROWS], monkeypatch)
    assert "drift" in enough.record  # at the minimum, the run checks and adapts as before


def test_auto_adapts_to_drifted_images_through_the_router(monkeypatch):
    source, labels, target = _domains(shift=8.0)
    outcome = _in_run("auto", source, labels, target, monkeypatch)  # no validation figures: every candidate passes
    record = outcome.record
    assert record["drift"]["drift"] and record["kept"] and record["decided_by"] == unlabelled.DECIDED_BY_DRIFT_ADAPT
    assert record["method"] == record["candidates"][unlabelled.pick(record["candidates"])]["name"] != "unadapted"
    assert record["router"]["mean_weight_unlabelled"] > 0.8 and record["router"]["mean_weight_labelled"] < 0.2
    assert outcome.head.name == head_lib.HEAD_NAME and outcome.head.get_layer("domain_router") is not None
    assert "A domain classifier routes each input" in outcome.reason


def test_the_routed_outcome_mixes_the_validation_probabilities_by_the_router(monkeypatch):
    source, labels, target = _domains(shift=8.0)
    unadapted = np.full((len(labels), 2), 0.5)
    outcome = _in_run("auto", source, labels, target, monkeypatch, head_probabilities=unadapted)
    if outcome.record["kept"]:
        weight = outcome.record["router"]["mean_weight_labelled"]
        assert outcome.probabilities.shape == (60, 2) and weight < 0.2
        scored = outcome.probabilities[~np.isnan(outcome.probabilities).any(axis=1)]  # the plan's validation rows
        assert len(scored) > 0
        np.testing.assert_allclose(scored.sum(axis=1), 1.0, atol=1e-6)
        assert np.abs(scored - 0.5).max() < 0.5  # mostly the unadapted head's answer
    else:
        assert outcome.head is None and "The head was not adapted" in outcome.reason


def test_adapt_compares_every_candidate_and_says_what_decided(monkeypatch):
    source, labels, target = _domains()
    outcome = _in_run("adapt", source, labels, target, monkeypatch, head_probabilities=np.eye(2)[labels])
    record = outcome.record
    assert record["drift"]["drift"] and record["decided_by"] == unlabelled.DECIDED_BY_LABEL_FREE
    names = [row["name"] for row in record["candidates"]]
    assert names == ["unadapted", "mcc", "align", "align+spread (standardized, k=10)", "align+spread (standardized, k=20)",
                     "align+spread (whitened, k=10)", "align+spread (whitened, k=20)"]
    chosen = record["candidates"][unlabelled.pick(record["candidates"])]
    assert record["kept"] == (chosen["name"] != "unadapted")
    assert record["method"] == (chosen["name"] if record["kept"] else None)
    assert (outcome.head is None) == (not record["kept"])
    assert f"had the highest soft neighbourhood density on the unlabelled images ({chosen['snd']:.3f}" in outcome.reason


def test_the_choice_is_the_densest_adapted_candidate_above_the_floor():
    table = [{"name": "unadapted", "snd": 9.0, "passes_floor": True}, {"name": "mcc", "snd": 3.0, "passes_floor": False},
             {"name": "align", "snd": 2.0, "passes_floor": True}, {"name": "x", "snd": 1.0, "passes_floor": True},
             {"name": "y", "snd": float("nan"), "passes_floor": True}]
    assert unlabelled.pick(table) == 2  # the densest adapted one (mcc) fell below the floor; unadapted does not compete
    below = [{"name": "unadapted", "snd": 1.0, "passes_floor": True}, {"name": "mcc", "snd": 2.0, "passes_floor": False}]
    assert unlabelled.pick(below) == 0  # none above the floor: the head stays unadapted


def test_an_asked_for_alignment_keeps_the_densest_aligned_probe(monkeypatch):
    source, labels, target = _domains()
    outcome = _in_run("align", source, labels, target, monkeypatch)
    assert outcome.record["kept"] and outcome.record["method"].startswith("align")
    assert len(outcome.record["candidates"]) == 5 and outcome.record["decided_by"] == "asked for"
    assert outcome.head.name == head_lib.HEAD_NAME and outcome.reason.startswith("Adapted with align as asked")
