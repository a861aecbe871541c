"""FineTuner: a head on cached bottlenecks, optional fine-tuning, a serving SavedModel."""
