"""PushedBaseline: the Evaluator's baseline, the newest model pushed before this run's candidate."""
