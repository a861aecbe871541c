"""Packaging for tfx-transfer.

The repository keeps `components/`, `trainer/` and `pipeline/` at its root, and this file maps
them into the `tfx_transfer` namespace so that nothing installs as a bare `pipeline` or `trainer`.
Pinned versions live in `requirements.lock`; the ranges here are what the code needs.
"""

import os

from setuptools import find_packages, setup

VERSION = "0.1.0"

# Each top-level folder is a package of the namespace; its subfolders (e.g.
# components/bottleneck_extractor) are installed with it.
TOP_LEVEL = {"tfx_transfer.components": "components", "tfx_transfer.trainer": "trainer", "tfx_transfer.pipeline": "pipeline"}
HERE = os.path.dirname(os.path.abspath(__file__))


def package_dirs():
    """Every package below the top-level folders, mapped to its folder."""
    dirs = dict(TOP_LEVEL)
    for package, folder in TOP_LEVEL.items():
        for sub in find_packages(os.path.join(HERE, folder)):
            dirs[f"{package}.{sub}"] = os.path.join(folder, *sub.split("."))
    return dirs


PACKAGE_DIRS = package_dirs()

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
        "cleanlab>=2.6,<3",
        "google-crc32c",
        "matplotlib",
        "pyyaml",
    ],
    # s3:// pipeline roots (MinIO, AWS): tensorflow-io's S3 filesystem for tf.io.gfile, matching TF 2.16.
    extras_require={"s3": ["tensorflow-io==0.37.1"]},
    entry_points={"console_scripts": ["tfx-transfer=tfx_transfer.pipeline.cli:main"]},
)
