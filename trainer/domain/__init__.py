"""Unlabelled images: whether two sets of embeddings differ (`drift`); what a run does with
unlabelled images (`unlabelled`): learning from images of the same domain (`semi_supervised`),
adapting to a shifted serving domain (`alignment`, `adaptation`), chosen without target labels
(`label_free`) and served to the inputs like the unlabelled images (`routing`).

May import: `common`, `data`, `base`, `training`, `selection`.
"""
