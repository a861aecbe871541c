"""The pretrained base: where it comes from (`base_source`), refusing model files that would run
stored code (`model_safety`), reading Keras 2 and 3 model files (`model_files`), hashing its weights for the cache key (`weights_hash`), where to
cut it (`cuts`), building the frozen, pooled extractor (`base_model`) and the
`feature_extractor` artifact its consumers load (`feature_extractor`).

May import: `common`, `data`.
"""
