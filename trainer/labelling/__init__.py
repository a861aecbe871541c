"""The labelling loop: which given labels look wrong (`suspect_labels`) and which unlabelled
images to label next (`label_next`).

May import: `common`, `data`, `base`, `training`, `selection`, `domain`.
"""
