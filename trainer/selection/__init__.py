"""Choosing, on training data only: the validation plan every choice uses (`validation`), the
default probe head (`probe`) and its refit on rows streamed from disk (`streamed_head`), LogME
(`logme`), which cut transfers best (`cut_scores`), whether augmented copies help
(`augmented_copies`), feature extraction or fine-tuning (`strategy`), the no-transfer control
(`control`) and the gate that exports the transferred model, the control or their average
(`gate`).

May import: `common`, `data`, `base`, `training`.
"""
