"""BottleneckExtractor: frozen-base features for every example, cached as an Examples artifact."""
