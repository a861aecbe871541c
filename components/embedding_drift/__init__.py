"""EmbeddingDriftValidator: do two sets of bottlenecks differ?"""
