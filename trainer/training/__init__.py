"""Training one model: the classification head and the full model (`head`), the two training
phases and their history (`loop`), on-the-fly augmentation (`augmentation`) and the serving
SavedModel (`export`).

May import: `common`, `data`, `base`.
"""
