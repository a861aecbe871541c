"""Images from another domain: whether two sets of embeddings differ (`drift`), and adapting to
unlabelled images of the serving domain (`adaptation`).

May import: `common`, `data`, `base`, `training`, `selection`.
"""
