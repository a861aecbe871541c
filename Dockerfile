# Container image for Kubeflow Pipelines: TFX 1.16's image plus tfx-transfer.
FROM tensorflow/tfx:1.16.0

WORKDIR /opt/tfx-transfer
COPY setup.py requirements.lock README.md ./
COPY components components
COPY trainer trainer
COPY pipeline pipeline
# The lock constrains whatever the base image lacks to the versions CI tested.
RUN python -m pip install --no-cache-dir -c requirements.lock . \
 && python -c "import tfx_transfer.components, tfx_transfer.trainer, tfx_transfer.pipeline"
