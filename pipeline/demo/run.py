"""The offline demo: pretrain a CNN on digits 0-4, transfer it to digits 5-9 with few labels.

Everything is local and offline: scikit-learn's bundled digits, LocalDagRunner, SQLite MLMD,
Beam DirectRunner. The source CNN is trained by the standard TFX Trainer in the same pipeline,
so the base reaches BottleneckExtractor as an upstream `Model` artifact. A second run reuses the
cached extraction (and everything else).
"""

from __future__ import annotations

import os
import shutil
from typing import Any, Dict

from tfx import v1 as tfx

from tfx_transfer.components import ImageFolderExampleGen
from tfx_transfer.pipeline import configs
from tfx_transfer.pipeline.demo import data as demo_data, source_model as demo_source_model
from tfx_transfer.pipeline.local import jobs
from tfx_transfer.pipeline.pipeline import create_pipeline

SOURCE_DIGITS = range(0, 5)
TARGET_DIGITS = range(5, 10)


def _keep_first(split_dir: str, per_class: int) -> None:
    """Keeps `per_class` images in each class folder: the 'few labels' of the target task."""
    for label in sorted(os.listdir(split_dir)):
        files = sorted(os.listdir(os.path.join(split_dir, label)))
        for name in files[per_class:]:
            os.remove(os.path.join(split_dir, label, name))


def write_demo_data(data_root: str, labels_per_class: int) -> Dict[str, str]:
    """Source (digits 0-4, all images) and target (digits 5-9, few training labels) folders."""
    source, target = os.path.join(data_root, "source"), os.path.join(data_root, "target")
    if not (os.path.isdir(source) and os.path.isdir(target)):
        shutil.rmtree(data_root, ignore_errors=True)
        demo_data.write_digits_demo(source, classes=SOURCE_DIGITS)
        demo_data.write_digits_demo(target, classes=TARGET_DIGITS)
        _keep_first(os.path.join(target, "train"), labels_per_class)
        print(f"wrote demo data: {source} (digits 0-4), {target} (digits 5-9, "
              f"{labels_per_class} training labels per class)")
    return {"source": source, "target": target}


def demo_pipeline(workdir: str, settings: Dict[str, Any] = configs.DEMO) -> tfx.dsl.Pipeline:
    data = write_demo_data(os.path.join(workdir, "data"), settings["labels_per_class"])
    source_examples = ImageFolderExampleGen(input_base=data["source"]).with_id("SourceExampleGen")
    source_trainer = tfx.components.Trainer(
        run_fn=demo_source_model.RUN_FN,
        examples=source_examples.outputs["examples"],
        custom_config={"epochs": settings["source_epochs"]},
    ).with_id("SourceTrainer")
    return create_pipeline(
        pipeline_name=configs.DEMO_PIPELINE_NAME,
        pipeline_root=os.path.join(workdir, "pipeline_root"),
        data_root=data["target"],
        serving_dir=os.path.join(workdir, "serving"),
        extractor_args=dict(batch_size=settings["batch_size"]),
        fine_tuner_args=settings["fine_tuner"],
        accuracy_threshold=settings["accuracy_threshold"],
        base_model=source_trainer.outputs["model"],
        upstream_components=[source_examples, source_trainer],
        metadata_connection_config=jobs.metadata_config(workdir),
    )


def run_demo(workdir: str) -> Dict[str, Any]:
    """Runs the demo pipeline in `workdir` and prints what it did and where to look."""
    workdir = os.path.abspath(workdir)
    return jobs.run_and_report(demo_pipeline(workdir), workdir)
