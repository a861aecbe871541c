"""The labelling loop: which given labels look wrong (`suspect_labels`), which unlabelled
images to label next (`label_next`), and the listed images' thumbnails for the report
(`thumbnails`).

May import: `common`, `data`, `base`, `training`, `selection`, `domain`.
"""
