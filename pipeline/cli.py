"""`tfx-transfer`: the command line of tfx-transfer.

    tfx-transfer make-demo-data DIR   write scikit-learn's digits as PNG class folders
    tfx-transfer demo                 the offline demo pipeline on LocalDagRunner
    tfx-transfer run ...              the pipeline on your image folders and base model, locally
    tfx-transfer compile ...          the same pipeline as a Kubeflow Pipelines v2 JSON
    tfx-transfer submit ...           a compiled pipeline to KFP, once or on a cron schedule
    tfx-transfer drift ...            new serving images against the pushed model's training data
    tfx-transfer label-next ...       which new unlabelled images to label first, for the pushed model
    tfx-transfer inspect MODEL        where a base model would be cut, and how its input is scaled
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from typing import Any, Dict, List, Optional

from tfx_transfer.pipeline import configs
from tfx_transfer.trainer.selection.strategy import (
    ADAPTATION_AUTO, ADAPTATIONS, DEFAULT_LABEL_BUDGET, DEFAULT_STRATEGY, STRATEGIES,
)

# Keys of a `--config` YAML file; each is also a flag (with dashes), and flags win.
PIPELINE_KEYS = (
    "data_root", "base_model", "weights", "cut_layer", "image_size", "strategy", "pipeline_root",
    "serving_dir", "pipeline_name", "beam_arg", "accuracy_threshold", "extractor", "fine_tuner",
    "layout", "num_classes", "unlabelled_root", "adaptation", "block_push_on_drift", "drop_suspect_labels",
    "label_budget", "preprocessing",
)


class UserError(ValueError):
    """A problem with the user's input; printed without a traceback, exit code 2."""


def _make_demo_data(args: argparse.Namespace) -> None:
    from tfx_transfer.pipeline.demo import data as demo_data

    counts = demo_data.write_digits_demo(args.dir)
    for split, labels in counts.items():
        print(f"{split}: {sum(labels.values())} images in {len(labels)} classes -> {os.path.join(args.dir, split)}")


def _demo(args: argparse.Namespace) -> None:
    from tfx_transfer.pipeline.demo import run as demo

    demo.run_demo(args.workdir)


def load_settings(args: argparse.Namespace) -> Dict[str, Any]:
    """The pipeline settings: the `--config` YAML file, overridden by flags given explicitly."""
    settings: Dict[str, Any] = {}
    if args.config:
        import yaml

        if not os.path.isfile(args.config):
            raise UserError(f"--config {args.config!r} does not exist; give a YAML file.")
        with open(args.config) as f:
            loaded = yaml.safe_load(f) or {}
        if not isinstance(loaded, dict):
            raise UserError(f"--config {args.config!r} must hold a mapping of settings, got {type(loaded).__name__}.")
        unknown = sorted(set(loaded) - set(PIPELINE_KEYS))
        if unknown:
            raise UserError(f"Unknown keys {unknown} in {args.config}; valid keys are {list(PIPELINE_KEYS)}.")
        settings.update(loaded)
    settings.update({key: value for key, value in vars(args).items() if key in PIPELINE_KEYS and value is not None})
    if not settings.get("data_root"):
        raise UserError("--data-root is required: a folder of <label>/* or <split>/<label>/* images.")
    if not settings.get("base_model"):
        raise UserError("--base-model is required: a Keras Application name (e.g. MobileNetV2) or a model file.")
    return settings


def extractor_args(settings: Dict[str, Any]) -> Dict[str, Any]:
    """BottleneckExtractor keyword arguments from the settings."""
    from tfx_transfer.trainer.base.base_source import looks_like_model_path

    base = settings["base_model"]
    args: Dict[str, Any] = dict(settings.get("extractor") or {})
    if looks_like_model_path(base):
        args["model_uri"] = base
    else:
        args["keras_application"] = base
        args["weights"] = settings.get("weights", "imagenet")
        if args["weights"] in ("none", "None", ""):
            args["weights"] = None
    if settings.get("cut_layer"):
        cut = settings["cut_layer"]
        args["cut_layer"] = [name.strip() for name in cut.split(",")] if isinstance(cut, str) and "," in cut else cut
    if settings.get("image_size"):
        args["image_size"] = int(settings["image_size"])
    if settings.get("preprocessing"):
        args["preprocessing"] = settings["preprocessing"]
    return args


def _check_roots(settings: Dict[str, Any]) -> None:
    """The local image folders exist (a remote one is read by the steps that use it)."""
    from tfx_transfer.trainer.data.storage import is_remote

    if not is_remote(settings["data_root"]) and not os.path.isdir(settings["data_root"]):
        raise UserError(f"--data-root {settings['data_root']!r} does not exist; give a folder of labelled images.")
    unlabelled_root = settings.get("unlabelled_root")
    if unlabelled_root and not is_remote(unlabelled_root) and not os.path.isdir(unlabelled_root):
        raise UserError(f"--unlabelled-root {unlabelled_root!r} does not exist; give a folder of unlabelled images "
                        "(any depth) from the serving domain.")


def build_pipeline(settings: Dict[str, Any], pipeline_root: str):
    """The pipeline of `run` and `compile`, from the settings (their folders checked by `_check_roots`)."""
    from tfx_transfer.pipeline.pipeline import create_pipeline

    fine_tuner = dict(settings.get("fine_tuner") or {})
    for key in ("strategy", "adaptation", "drop_suspect_labels", "label_budget"):
        if settings.get(key) is not None and settings.get(key) is not False:
            fine_tuner[key] = settings[key]
    unlabelled_root = settings.get("unlabelled_root")
    return create_pipeline(
        pipeline_name=settings.get("pipeline_name", configs.PIPELINE_NAME),
        pipeline_root=pipeline_root,
        data_root=settings["data_root"],
        serving_dir=settings.get("serving_dir") or os.path.join(pipeline_root, "serving"),
        extractor_args=extractor_args(settings),
        fine_tuner_args=fine_tuner,
        accuracy_threshold=float(settings.get("accuracy_threshold", configs.ACCURACY_THRESHOLD)),
        layout=settings.get("layout", "auto"),
        num_classes=settings.get("num_classes"),
        beam_pipeline_args=list(settings.get("beam_arg") or []),
        unlabelled_root=unlabelled_root,
        block_push_on_drift=bool(settings.get("block_push_on_drift", False)),
    )


def _fetch_weights(args: argparse.Namespace) -> None:
    from tfx_transfer.trainer.base import base_model

    cache = base_model.fetch_imagenet_weights(args.name, args.image_size)
    print(f"The ImageNet weights of {args.name} are in {cache}; copy that folder's .h5 file to an offline machine's "
          "Keras cache (~/.keras/models), or pass it as --weights.")


def _prefetch_weights(extractor_kwargs: Dict[str, Any]) -> None:
    """Fetches ImageNet weights once, before the pipeline starts, so an offline machine fails in one
    sentence instead of inside the BottleneckExtractor; the extractor then reads Keras' cache."""
    from tfx_transfer.trainer.base import base_model
    from tfx_transfer.trainer.base.base_source import WEIGHTS_IMAGENET

    if extractor_kwargs.get("keras_application") and extractor_kwargs.get("weights") == WEIGHTS_IMAGENET:
        base_model.fetch_imagenet_weights(extractor_kwargs["keras_application"], extractor_kwargs.get("image_size"))


def _run(args: argparse.Namespace) -> None:
    from tfx_transfer.pipeline.local import jobs, preflight

    settings = load_settings(args)
    _check_roots(settings)  # local inputs first: a missing folder is named before any download
    for root in (settings["data_root"], settings.get("unlabelled_root")):
        if root:
            preflight.check_folder(root, args.skip_bad_files)
    _prefetch_weights(extractor_args(settings))
    pipeline_root = os.path.abspath(settings.get("pipeline_root") or configs.LOCAL_PIPELINE_ROOT)
    pipeline = build_pipeline(settings, pipeline_root)
    # Only now, after every check passed: creating the MLMD config creates the pipeline root.
    pipeline.metadata_connection_config = jobs.metadata_config(pipeline_root)
    jobs.run_and_report(pipeline, pipeline_root)


def _compile(args: argparse.Namespace) -> None:
    from tfx_transfer.pipeline import pipeline as pipeline_lib
    from tfx_transfer.pipeline.kubeflow import package as kfp_package, resources as kfp_resources
    from tfx_transfer.pipeline.kubeflow import runner as kfp_runner

    settings = load_settings(args)
    pipeline_root = settings.get("pipeline_root") or configs.KFP_PIPELINE_ROOT
    resources = kfp_resources.ResourceConfig(
        target=args.target, gpu_type=args.gpu_type, gpus=args.gpus, cpu_limit=args.cpu, memory_limit=args.memory
    )
    placement = kfp_resources.NodePlacement.from_flags(args.gpu_node_selector or [], args.gpu_toleration or [], resources)
    kfp_package.check_pipeline_root(pipeline_root, args.target)  # before the pipeline is built
    _check_roots(settings)
    pipeline = build_pipeline({**settings, "beam_arg": []}, pipeline_root)
    path = kfp_runner.compile_pipeline(
        pipeline, args.output, args.image, resources, beam_pipeline_args=list(settings.get("beam_arg") or []),
        placement=placement if args.target == kfp_resources.TARGET_KUBEFLOW else None,
    )
    gpus = f"{args.gpus} x {resources.gpu_type}" if args.gpus else "no GPU"
    print(f"wrote {path} for {args.target}: image {args.image}, BottleneckExtractor and FineTuner on {gpus}")
    config = placement.executor_config() if args.target == kfp_resources.TARGET_KUBEFLOW else {}
    if config:
        print(f"  GPU steps: node selector {config.get('nodeSelector', {}).get('labels', {})}, "
              f"tolerations {config.get('tolerations', [])}")
    skipped = pipeline_lib.skipped_checks(pipeline)
    if skipped:
        print("Not checked at compile time (each step checks them again when it runs):")
        for note in skipped:
            print(f"  - {note}")


def _submit(args: argparse.Namespace) -> None:
    from tfx_transfer.pipeline.kubeflow import package as kfp_package, submit as kfp_submit

    params = kfp_package.parse_params(args.param or [])
    run_id = kfp_submit.submit(
        args.package, args.host, args.experiment, args.run_name, params, schedule=args.schedule,
        timeout_s=args.timeout, pipeline_root=args.pipeline_root,
    )
    kind = f"recurring run ({args.schedule})" if args.schedule else "run"
    print(f"submitted {kind} {run_id} to {args.host}, experiment {args.experiment!r}")


def _drift(args: argparse.Namespace) -> int:
    from tfx_transfer.pipeline.local import serving_drift

    result = serving_drift.check_serving(args.serving_root, os.path.abspath(args.pipeline_root))
    serving_drift.print_result(result)
    return serving_drift.EXIT_DRIFT if result["drift"] else 0


def _label_next(args: argparse.Namespace) -> int:
    from tfx_transfer.pipeline.local import label_fresh

    label_fresh.print_result(label_fresh.rank_folder(
        args.unlabelled_root, os.path.abspath(args.pipeline_root), args.budget, args.output))
    return 0


def _inspect(args: argparse.Namespace) -> None:
    from tfx_transfer.pipeline.local import inspect_base

    print("\n".join(inspect_base.lines(inspect_base.inspect(args.model, args.image_size))))


def _add_pipeline_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", help="YAML file with any of: " + ", ".join(PIPELINE_KEYS))
    parser.add_argument("--data-root", dest="data_root", help="folder of <label>/* or <split>/<label>/* images")
    parser.add_argument("--base-model", dest="base_model", help="Keras Application name (MobileNetV2) or a .keras/.h5/SavedModel path")
    parser.add_argument("--weights", help="for a Keras Application: 'imagenet', 'none' or a weights file")
    parser.add_argument("--cut-layer", dest="cut_layer",
                        help="layer(s) to cut the base at: a name, 'a,b,c', or 'auto' (default: candidates chosen by measurement)")
    parser.add_argument("--image-size", dest="image_size", type=int, help="input size (default: the model's)")
    parser.add_argument("--preprocessing", help="input scaling of the base, e.g. unit for [0, 1] (default: a Keras "
                        "Application's own; none for your own model; `tfx-transfer inspect MODEL` shows it)")
    parser.add_argument("--strategy", choices=list(STRATEGIES), help=f"default: {DEFAULT_STRATEGY}")
    parser.add_argument("--layout", choices=["auto", "class_folders", "split_folders"],
                        help="<label>/* (class_folders) or <split>/<label>/* (split_folders); default auto")
    parser.add_argument("--num-classes", dest="num_classes", type=int,
                        help="number of classes; needed only when this machine cannot read --data-root")
    parser.add_argument("--unlabelled-root", dest="unlabelled_root",
                        help="folder of unlabelled images from the serving domain (any depth; labels ignored): "
                             "checked for drift, and adapted to")
    parser.add_argument("--adaptation", choices=list(ADAPTATIONS),
                        help=f"how the model adapts to --unlabelled-root (default: {ADAPTATION_AUTO})")
    parser.add_argument("--block-push-on-drift", dest="block_push_on_drift", action="store_true", default=None,
                        help="do not push when the embedding drift check finds drift")
    parser.add_argument("--label-budget", dest="label_budget", type=int,
                        help=f"how many unlabelled images to list to label next (default {DEFAULT_LABEL_BUDGET})")
    parser.add_argument("--drop-suspect-labels", dest="drop_suspect_labels", action="store_true", default=None,
                        help="train again without the training images whose label looks wrong, then export")
    parser.add_argument("--pipeline-root", dest="pipeline_root", help="where artifacts (and local MLMD) go")
    parser.add_argument("--serving-dir", dest="serving_dir", help="where Pusher pushes blessed models")
    parser.add_argument("--pipeline-name", dest="pipeline_name")
    parser.add_argument("--beam-arg", dest="beam_arg", action="append", help="Beam pipeline argument (repeatable)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tfx-transfer", description="Transfer learning for TFX pipelines.")
    parser.add_argument("-v", "--verbose", action="store_true", help="show TFX and Beam logs")
    verbs = parser.add_subparsers(dest="verb", required=True, metavar="VERB")

    make_data = verbs.add_parser("make-demo-data", help="write scikit-learn's digits as DIR/<split>/<label>/*.png (offline)")
    make_data.add_argument("dir", help="output folder")
    make_data.set_defaults(handler=_make_demo_data)

    demo = verbs.add_parser("demo", help="pretrain on digits 0-4, transfer to 5-9, evaluate, bless, push (offline)")
    demo.add_argument("--workdir", default=configs.DEMO_WORKDIR, help="where data, pipeline root and MLMD go")
    demo.set_defaults(handler=_demo)

    run = verbs.add_parser("run", help="run the pipeline locally (LocalDagRunner) on your data")
    _add_pipeline_flags(run)
    run.add_argument(
        "--skip-bad-files", dest="skip_bad_files", action="store_true",
        help="run even if some files are unreadable or not images (they are counted and listed)",
    )
    run.set_defaults(handler=_run)

    fetch = verbs.add_parser("fetch-weights", help="download a Keras Application's ImageNet weights into the Keras "
                             "cache, to copy to a machine without internet")
    fetch.add_argument("name", help="Keras Application name, e.g. MobileNetV2")
    fetch.add_argument("--image-size", dest="image_size", type=int, help="input size (default: the model's)")
    fetch.set_defaults(handler=_fetch_weights)

    compile_ = verbs.add_parser("compile", help="compile the pipeline for Kubeflow Pipelines 2.x (or Vertex AI)")
    _add_pipeline_flags(compile_)
    compile_.add_argument("--target", choices=["kubeflow", "vertex"], default="kubeflow",
                          help="open-source Kubeflow Pipelines 2.x (default) or Vertex AI Pipelines")
    compile_.add_argument("--output", required=True, help="pipeline file to write: .yaml (kubeflow); .json or .yaml (vertex)")
    compile_.add_argument("--image", default=configs.DEFAULT_IMAGE, help="container image built from the Dockerfile")
    compile_.add_argument("--gpu-type", dest="gpu_type",
                          help="accelerator: a Kubernetes resource name on kubeflow (default nvidia.com/gpu), "
                               "a Vertex AI type on vertex (default NVIDIA_TESLA_T4)")
    compile_.add_argument("--gpu-node-selector", dest="gpu_node_selector", action="append",
                          help="KEY=VALUE node label the GPU steps require (kubeflow; repeatable)")
    compile_.add_argument("--gpu-toleration", dest="gpu_toleration", action="append",
                          help="KEY[=VALUE]:EFFECT taint the GPU steps tolerate (kubeflow; repeatable; "
                               "default: the GPU resource name, e.g. nvidia.com/gpu:NoSchedule)")
    compile_.add_argument("--gpus", type=int, default=configs.DEFAULT_GPUS, help="GPUs per heavy step (0 = CPU only)")
    compile_.add_argument("--cpu", type=float, help="CPU limit of the heavy steps")
    compile_.add_argument("--memory", help="memory limit of the heavy steps, e.g. 16G")
    compile_.set_defaults(handler=_compile)

    submit = verbs.add_parser("submit", help="submit a compiled pipeline to KFP (a run, or a recurring run)")
    submit.add_argument("package", help="compiled pipeline file (from `tfx-transfer compile`)")
    submit.add_argument("--host", required=True, help="KFP API endpoint, e.g. http://localhost:8080")
    submit.add_argument("--experiment", default=configs.PIPELINE_NAME)
    submit.add_argument("--run-name", dest="run_name", default=configs.PIPELINE_NAME)
    submit.add_argument("--param", action="append", help="runtime parameter KEY=VALUE (repeatable)")
    submit.add_argument("--schedule", help="cron expression for a recurring run, e.g. '0 3 * * *'")
    submit.add_argument("--timeout", type=float, default=10.0, help="seconds to wait for the host")
    submit.add_argument("--pipeline-root", dest="pipeline_root",
                        help="gs:// or s3:// root of the run's artifacts (default: the package's)")
    submit.set_defaults(handler=_submit)

    drift = verbs.add_parser("drift", help="check new serving images for embedding drift against the pushed model's "
                             "training bottlenecks (exit code 3 on drift; for a cron job)")
    drift.add_argument("--serving-root", dest="serving_root", required=True, help="folder of serving images (any depth)")
    drift.add_argument("--pipeline-root", dest="pipeline_root", default=configs.LOCAL_PIPELINE_ROOT,
                       help="the root of `tfx-transfer run` that pushed the model")
    drift.set_defaults(handler=_drift)

    label = verbs.add_parser("label-next", help="rank a folder of new unlabelled images for labelling against the "
                             "pushed model, without retraining (a CSV of absolute paths, best first)")
    label.add_argument("--unlabelled-root", dest="unlabelled_root", required=True,
                       help="folder of unlabelled images (any depth)")
    label.add_argument("--pipeline-root", dest="pipeline_root", default=configs.LOCAL_PIPELINE_ROOT,
                       help="the root of `tfx-transfer run` that pushed the model")
    label.add_argument("--budget", type=int, default=DEFAULT_LABEL_BUDGET,
                       help=f"how many images to list (an int >= 1; default {DEFAULT_LABEL_BUDGET})")
    label.add_argument("--output", help="the CSV to write (default: <pipeline-root>/label_next/<UTC time>.csv)")
    label.set_defaults(handler=_label_next)

    look = verbs.add_parser("inspect", help="where a base model would be cut, and how its input is scaled, before any run")
    look.add_argument("model", help="a Keras Application name (built without weights) or a .keras/.h5/SavedModel path")
    look.add_argument("--image-size", dest="image_size", type=int, help="input size (default: the model's)")
    look.set_defaults(handler=_inspect)
    return parser


class _DropNoise(logging.Filter):
    """TFX warns on every resolver query in LocalDagRunner; users can do nothing about it."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "property_predicate is not supported" not in record.getMessage()


def _configure_logging(verbose: bool) -> None:
    # Without -v, TensorFlow's start-up noise (CUDA plugin registration on CPU machines,
    # deprecation notices inside TFMA) is hidden; errors still surface as exceptions.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2" if verbose else "3")
    level = logging.INFO if verbose else logging.WARNING
    logging.basicConfig(level=level, format="%(levelname)s %(message)s")
    for handler in logging.getLogger().handlers:
        handler.setLevel(level)
        handler.addFilter(_DropNoise())
    if not verbose:
        import warnings

        warnings.filterwarnings("ignore")
        logging.getLogger("tensorflow").setLevel(logging.ERROR)


def main(argv: Optional[List[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    _configure_logging(args.verbose)
    start = time.perf_counter()
    try:
        code = args.handler(args)
    except ValueError as err:  # Configuration errors of every layer are ValueErrors.
        print(f"tfx-transfer {args.verb}: error: {err}", file=sys.stderr)
        return 2
    except RuntimeError as err:
        if args.verbose:
            raise
        print(f"tfx-transfer {args.verb}: failed: {err}", file=sys.stderr)
        return 1
    print(f"done in {time.perf_counter() - start:.1f} s")
    return code or 0


if __name__ == "__main__":
    sys.exit(main())
