"""The labelling loop: which given labels look wrong (`suspect_labels`).

May import: `common`, `data`, `base`, `training`, `selection`, `domain`.
"""
