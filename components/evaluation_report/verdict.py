"""The report's first screen: three sentences a person reads before anything else.

1. What was exported, and what the Evaluator made of it (accuracy, examples, blessing).
2. Its margin over the no-transfer control, on the validation rows carved from training data.
3. The embedding drift verdict, in the words that say what each test found.

They come from `strategy.json` (FineTuner), the TFMA results and `drift.json`; each sentence says
so plainly when its input is missing, instead of leaving the line out.
"""

from __future__ import annotations

import re
from typing import Any, Mapping, Optional

from tfx_transfer.components.evaluation_report import decision, markup
from tfx_transfer.components.evaluation_report import tfma_results as tr
from tfx_transfer.trainer.selection import strategy as strategy_lib

TOPICS = ("exported", "control", "drift")

_BLESSING = {
    tr.BLESSED: '<span class="ok">blessed</span>',
    tr.NOT_BLESSED: '<span class="bad">not blessed</span>',
    tr.NOT_VALIDATED: '<span class="warn">not validated</span> (no thresholds were set)',
}


def _accuracy(value: Any) -> Optional[float]:
    return float(value) if markup.is_finite_number(value) else None


def exported_sentence(strategy: Optional[Mapping[str, Any]], accuracy: Optional[float], count: Optional[float],
                      validation: Optional[tr.Validation]) -> str:
    """Sentence 1: the exported model and the Evaluator's figures."""
    if strategy is None:
        what = "The model run holds no FineTuner decision (strategy.json), so which model was exported is not known"
    else:
        exported = strategy.get("exported", strategy_lib.EXPORTED_TRANSFER)
        model = decision.EXPORTED_WORDS.get(exported, markup.esc(exported))
        how = "fine-tuned" if strategy.get("strategy") == strategy_lib.STRATEGY_FINE_TUNE else "on the frozen base"
        cut = f", cut at <code>{markup.esc(strategy['cut_layer'])}</code>" if strategy.get("cut_layer") else ""
        what = f"<strong>Exported {model}</strong> ({how}{cut})"
    figures = []
    if accuracy is not None:
        figures.append(f"scored accuracy <strong>{accuracy:.3f}</strong>"
                       + (f" on the Evaluator's {count:,.0f} examples" if count is not None else ""))
    if validation is not None:
        figures.append(f"was {_BLESSING[validation.outcome]}")
    return what + (". It " + " and ".join(figures) if figures else "") + "."


def control_sentence(strategy: Optional[Mapping[str, Any]]) -> str:
    """Sentence 2: the exported model's margin over the no-transfer control."""
    control = strategy.get("control") if strategy else None
    if not isinstance(control, Mapping):
        return ("No no-transfer control was trained (control='none', or no raw examples were given), so nothing "
                "checked that the pretrained weights helped.")
    reference = _accuracy(control.get("validation_accuracy"))
    transfer = _accuracy(strategy.get("transfer_accuracy"))
    name = markup.esc(control.get("reason") or control.get("kind") or "the no-transfer control")
    where = markup.esc(strategy.get("validation") or "the validation rows")
    if reference is None or transfer is None:
        return f"The no-transfer control ({name}) could not be compared with the transferred model on {where}."
    exported = strategy.get("exported")
    average = _accuracy(control.get("ensemble_validation_accuracy"))
    if exported == strategy_lib.EXPORTED_CONTROL:
        return (f"<strong>Negative transfer</strong>: the control ({name}) scored {reference:.3f} on {where}, the "
                f"transferred model {transfer:.3f} ({100 * (transfer - reference):+.1f} points)"
                + (f" and their average {average:.3f}" if average is not None else "") + ".")
    score = average if exported == strategy_lib.EXPORTED_ENSEMBLE and average is not None else transfer
    lead = 100 * (score - reference)
    sentence = (f"<strong>Margin over the no-transfer control: {lead:+.1f} points</strong> on {where} "
                f"({score:.3f} against {reference:.3f} for {name})")
    if exported == strategy_lib.EXPORTED_ENSEMBLE:
        alone = "below the control: negative transfer" if transfer < reference else "too close to the control to tell apart"
        sentence += f"; the transferred model alone scored {transfer:.3f}, {alone}"
    return sentence + "."


def _compared(drift: Mapping[str, Any]) -> str:
    """What the training bottlenecks were compared with, in words."""
    split = re.search(r"\[([^\]]+)\]\s*$", str(drift.get("compared", "")))
    if split is None:
        return "the other images"
    return "the unlabelled images" if split.group(1) == "unlabelled" else f"the '{markup.esc(split.group(1))}' split"


def drift_sentence(drift: Optional[Mapping[str, Any]], strategy: Optional[Mapping[str, Any]]) -> str:
    """Sentence 3: the drift verdict (what each test found), and whether the head adapted."""
    if drift is None:
        return "No embedding drift check ran for this report."
    verdict = str(drift.get("verdict") or drift.get("reason") or "")
    style = "bad" if drift.get("drift") else "ok"
    sentence = (f"Embedding drift, training images against {_compared(drift)}: "
                f'<span class="{style}">{markup.esc(verdict)}</span>')
    if drift.get("drift") and drift.get("blocks_push"):
        sentence += " Drift withholds the push (block_push)."
    adaptation = strategy.get("adaptation") if strategy else None
    if isinstance(adaptation, Mapping) and adaptation.get("method"):
        decided = f" (decided by {markup.esc(adaptation['decided_by'])})" if adaptation.get("decided_by") else ""
        if adaptation["method"] == strategy_lib.ADAPTATION_SEMI_SUPERVISED:
            kept = "kept" if adaptation.get("kept") else "set aside: it did not pay"
            sentence += f" The head refitted with the unlabelled images' spread labels was {kept}{decided}."
        else:
            kept = "and kept it" if adaptation.get("kept") else "but did not keep it"
            routed = (", serving it to the images a domain classifier finds like the unlabelled ones"
                      if adaptation.get("kept") and adaptation.get("router") else "")
            sentence += (f" The head adapted to the unlabelled images with {markup.esc(adaptation['method'])} "
                         f"{kept}{routed}{decided}.")
    return sentence


def verdict_html(strategy: Optional[Mapping[str, Any]], drift: Optional[Mapping[str, Any]],
                 accuracy: Optional[float], count: Optional[float], validation: Optional[tr.Validation]) -> str:
    """The three sentences, one paragraph each, tagged with their topic."""
    sentences = (exported_sentence(strategy, accuracy, count, validation), control_sentence(strategy),
                 drift_sentence(drift, strategy))
    return "".join(f'<p class="verdict-line" data-topic="{topic}">{sentence}</p>'
                   for topic, sentence in zip(TOPICS, sentences))
