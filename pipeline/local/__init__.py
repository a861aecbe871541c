"""Runs on this machine: the embedded LocalDagRunner (`runner`), a run from checks to summary
(`jobs`), the image-folder checks before a run (`preflight`), what a run produced read back from
MLMD (`outputs`, `run_summary`), and the scheduled serving-drift check (`serving_drift`)."""
