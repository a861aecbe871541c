"""`create_pipeline(...)`: the tfx-transfer pipeline, independent of any runner.

ImageFolderExampleGen -> StatisticsGen -> SchemaGen -> ExampleValidator -> Transform (label
vocabulary) -> BottleneckExtractor -> FineTuner -> PushedBaseline (the newest model pushed before,
other than the candidate) -> Evaluator (TFMA) -> EvaluationReport (HTML) and Pusher. The
EmbeddingDriftValidator compares the training bottlenecks with the evaluated split's, or with
those of unlabelled serving-domain images when `unlabelled_root` is given: then an
UnlabelledExampleGen and an UnlabelledBottleneckExtractor (the same base and cuts) feed them to
FineTuner too, which adapts to them. The same pipeline runs locally and on Kubeflow: it has no
Resolver node, which the open-source KFP backend cannot run.
"""

from __future__ import annotations

from typing import Any, Dict, List, Optional, Sequence

from tfx import v1 as tfx
from tfx.dsl.components.base import base_node

from tfx_transfer.components import (
    BottleneckExtractor, EmbeddingDriftValidator, EvaluationReport, FineTuner, ImageFolderExampleGen, PushedBaseline,
)
from tfx_transfer.components import specs
from tfx_transfer.components.image_folder_example_gen import layout as layout_lib
from tfx_transfer.pipeline import evaluation, transform
from tfx_transfer.trainer.common import checks

from tfx_transfer.pipeline.configs import (
    BASELINE_ID,
    DRIFT_ID,
    EVALUATOR_ID,
    EXAMPLE_GEN_ID,
    EXTRACTOR_ID,
    FINE_TUNER_ID,
    PUSHER_ID,
    REPORT_ID,
    UNLABELLED_EXAMPLE_GEN_ID,
    UNLABELLED_EXTRACTOR_ID,
)


def _class_count(example_gen: ImageFolderExampleGen, num_classes: Optional[int]) -> int:
    """The number of classes: counted in the image folder, or given when it cannot be read here."""
    found = len(example_gen.image_folder.classes)
    if num_classes is None and not found:
        raise ValueError(
            f"The data root {example_gen.image_folder.input_base!r} cannot be read from this machine, "
            "so its classes cannot be counted; give num_classes (--num-classes), the number of class folders."
        )
    if num_classes is not None:
        checks.check_int("num_classes", num_classes, 2)
        if found and num_classes != found:
            raise ValueError(
                f"num_classes={num_classes} but {example_gen.image_folder.input_base} has {found} class "
                f"folders {list(example_gen.image_folder.classes)}; leave num_classes unset or set it to {found}."
            )
    return num_classes or found


def _unlabelled_nodes(
    unlabelled_root: Optional[str], base_model: Optional[tfx.dsl.Channel], extractor_args: Dict[str, Any]
) -> List[base_node.BaseNode]:
    """[UnlabelledExampleGen, UnlabelledBottleneckExtractor] for `unlabelled_root` (the same base
    and cuts as the labelled extractor, labels not required), or [] without it."""
    if not unlabelled_root:
        return []
    example_gen = ImageFolderExampleGen(input_base=unlabelled_root, layout=layout_lib.LAYOUT_UNLABELLED)
    extractor = BottleneckExtractor(
        examples=example_gen.outputs["examples"], base_model=base_model, **{**extractor_args, "labelled": False})
    return [example_gen.with_id(UNLABELLED_EXAMPLE_GEN_ID), extractor.with_id(UNLABELLED_EXTRACTOR_ID)]


def skipped_checks(pipeline: tfx.dsl.Pipeline) -> List[str]:
    """The build-time checks the pipeline's components could not run on this machine."""
    return [note for component in pipeline.components for note in getattr(component, "skipped_checks", [])]


def create_pipeline(
    pipeline_name: str,
    pipeline_root: str,
    data_root: str,
    serving_dir: str,
    extractor_args: Dict[str, Any],
    fine_tuner_args: Optional[Dict[str, Any]] = None,
    accuracy_threshold: float = 0.5,
    change_threshold: float = 0.01,
    split_ratios: Optional[Dict[str, int]] = None,
    layout: str = "auto",
    num_classes: Optional[int] = None,
    base_model: Optional[tfx.dsl.Channel] = None,
    upstream_components: Sequence[base_node.BaseNode] = (),
    metadata_connection_config: Optional[Any] = None,
    beam_pipeline_args: Optional[List[str]] = None,
    enable_cache: bool = True,
    unlabelled_root: Optional[str] = None,
    block_push_on_drift: bool = False,
) -> tfx.dsl.Pipeline:
    """The whole job from labelled image folders to a gated, pushed model.

    `extractor_args` and `fine_tuner_args` are the BottleneckExtractor's and FineTuner's keyword
    arguments (base source, image size, strategy, head, ...). `base_model` is an upstream
    `Model` channel used as the base, produced by one of `upstream_components` (which are
    added to the pipeline before the rest). `num_classes` is needed when this machine cannot read
    `data_root` (the Evaluator's per-class metrics are configured from it); FineTuner then
    checks it against the labels when it runs. `unlabelled_root` is a folder of unlabelled
    images of the serving domain (any depth); `block_push_on_drift` withholds the push when the
    drift check finds drift.
    """
    example_gen = ImageFolderExampleGen(input_base=data_root, layout=layout, split_ratios=split_ratios).with_id(EXAMPLE_GEN_ID)
    classes = _class_count(example_gen, num_classes)
    statistics_gen = tfx.components.StatisticsGen(examples=example_gen.outputs["examples"])
    schema_gen = tfx.components.SchemaGen(statistics=statistics_gen.outputs["statistics"], infer_feature_shape=True)
    example_validator = tfx.components.ExampleValidator(
        statistics=statistics_gen.outputs["statistics"], schema=schema_gen.outputs["schema"]
    )
    transform_step = tfx.components.Transform(
        examples=example_gen.outputs["examples"],
        schema=schema_gen.outputs["schema"],
        preprocessing_fn=transform.PREPROCESSING_FN,
    )
    transformed = transform_step.outputs["transformed_examples"]
    extractor = BottleneckExtractor(examples=transformed, base_model=base_model, **extractor_args).with_id(EXTRACTOR_ID)
    unlabelled = _unlabelled_nodes(unlabelled_root, base_model, extractor_args)
    unlabelled_bottlenecks = unlabelled[-1].outputs[specs.BOTTLENECKS_KEY] if unlabelled else None
    evaluated_split = evaluation.evaluation_split(example_gen.output_splits)
    drift_check = EmbeddingDriftValidator(
        bottlenecks=extractor.outputs["bottlenecks"], feature_extractor=extractor.outputs["feature_extractor"],
        other_bottlenecks=unlabelled_bottlenecks,
        split=layout_lib.UNLABELLED_SPLIT if unlabelled else evaluated_split, block_push=block_push_on_drift,
    ).with_id(DRIFT_ID)
    fine_tuner = FineTuner(
        bottlenecks=extractor.outputs["bottlenecks"],
        feature_extractor=extractor.outputs["feature_extractor"],
        examples=transformed,
        transform_graph=transform_step.outputs["transform_graph"],
        schema=schema_gen.outputs["schema"],
        label_vocabulary=transform.LABEL_VOCABULARY,
        unlabelled_bottlenecks=unlabelled_bottlenecks,
        unlabelled_examples=unlabelled[0].outputs["examples"] if unlabelled else None,
        **{"num_classes": classes, **(fine_tuner_args or {})},
    ).with_id(FINE_TUNER_ID)
    baseline = PushedBaseline(model=fine_tuner.outputs["model"], push_destination=serving_dir).with_id(BASELINE_ID)
    evaluator = tfx.components.Evaluator(
        examples=transformed,
        model=fine_tuner.outputs["model"],
        baseline_model=baseline.outputs["baseline_model"],
        eval_config=evaluation.eval_config(classes, accuracy_threshold, change_threshold),
        example_splits=[evaluated_split],
    ).with_id(EVALUATOR_ID)
    report = EvaluationReport(
        evaluation=evaluator.outputs["evaluation"],
        model_run=fine_tuner.outputs["model_run"],
        title=f"tfx-transfer evaluation: {pipeline_name}",
        examples=transformed,
        source_examples=example_gen.outputs["examples"],
        rejected=extractor.outputs["rejected"],
        evaluated_split=evaluated_split,
        drift=drift_check.outputs[specs.DRIFT_KEY],
    ).with_id(REPORT_ID)
    pusher = tfx.components.Pusher(
        model=fine_tuner.outputs["model"],
        model_blessing=evaluator.outputs["blessing"],
        infra_blessing=drift_check.outputs[specs.DRIFT_BLESSING_KEY],
        push_destination=tfx.proto.PushDestination(
            filesystem=tfx.proto.PushDestination.Filesystem(base_directory=serving_dir)
        ),
    ).with_id(PUSHER_ID)
    components: List[base_node.BaseNode] = [
        *upstream_components, example_gen, statistics_gen, schema_gen, example_validator, transform_step,
        extractor, *unlabelled, drift_check, fine_tuner, baseline, evaluator, report, pusher,
    ]
    return tfx.dsl.Pipeline(
        pipeline_name=pipeline_name,
        pipeline_root=pipeline_root,
        components=components,
        enable_cache=enable_cache,
        metadata_connection_config=metadata_connection_config,
        beam_pipeline_args=beam_pipeline_args or [],
    )
