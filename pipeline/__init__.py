"""The tfx-transfer pipeline and how it runs.

At the top, what defines the pipeline: `pipeline.create_pipeline`, its defaults (`configs`), the
Transform step (`transform`), the Evaluator's configuration (`evaluation`), and the command line
(`cli`). Then where it runs: `local/` (LocalDagRunner, summaries, the drift verb), `kubeflow/`
(compile, submit, schedule, the step entrypoint) and `demo/` (the offline demo).
"""
