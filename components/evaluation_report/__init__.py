"""EvaluationReport: the self-contained HTML report of a run, as a `system.HTML` artifact."""
