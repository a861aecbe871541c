"""Packaging for tfx-transfer.

The repository keeps `components/`, `trainer/` and `pipeline/` at its root, and this file maps
them into the `tfx_transfer` namespace so that nothing installs as a bare `pipeline` or `trainer`.
Pinned versions live in `requirements.lock`; the ranges here are what the code needs.
"""

from setuptools import setup

VERSION = "0.1.0"

PACKAGE_DIRS = {
    "tfx_transfer.components": "components",
    "tfx_transfer.trainer": "trainer",
    "tfx_transfer.pipeline": "pipeline",
}

setup(
    name="tfx-transfer",
    version=VERSION,
    description="Transfer learning for TFX: cached bottlenecks, fine-tuning and Kubeflow-ready pipelines.",
    python_requires=">=3.10,<3.11",
    packages=list(PACKAGE_DIRS),
    package_dir=PACKAGE_DIRS,
    install_requires=[
        "tfx==1.16.0",
        "apache-beam[gcp]==2.60.0",
        "kfp>=2.0,<3",
        "pillow",
        "scikit-learn",
        "matplotlib",
        "pyyaml",
    ],
    entry_points={"console_scripts": ["tfx-transfer=tfx_transfer.pipeline.cli:main"]},
)
