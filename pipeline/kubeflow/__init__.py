"""Kubeflow Pipelines 2.x (and Vertex AI): compiling a pipeline (`runner`) with the heavy steps'
accelerators and placement (`resources`), the package file and its parameters (`package`),
submitting runs and schedules (`submit`, `cron`), the container entrypoint every step starts
through (`entrypoint`), and every private kfp internal in one place (`compat`)."""
