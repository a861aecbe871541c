# Container image for Kubeflow Pipelines: TFX 1.16's image plus tfx-transfer.
FROM tensorflow/tfx:1.16.0

WORKDIR /opt/tfx-transfer
COPY setup.py requirements.lock README.md ./
COPY components components
COPY trainer trainer
COPY pipeline pipeline
# The lock constrains whatever the base image lacks to the versions CI tested. The `s3` extra
# (tensorflow-io's S3 filesystem) lets steps read and write s3:// roots, e.g. a MinIO endpoint.
RUN python -m pip install --no-cache-dir -c requirements.lock ".[s3]" \
 && python -c "import tfx_transfer.components, tfx_transfer.trainer, tfx_transfer.pipeline.kubeflow.entrypoint, tensorflow_io, cleanlab"
