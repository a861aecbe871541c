"""`tfx-transfer`: the command line of tfx-transfer.

    tfx-transfer make-demo-data DIR     write scikit-learn's digits as PNG class folders
    tfx-transfer demo [--workdir DIR]   run the offline demo pipeline on LocalDagRunner
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from typing import List, Optional

from tfx_transfer.pipeline import configs


class UserError(Exception):
    """A problem with the user's input; printed without a traceback, exit code 2."""


def _make_demo_data(args: argparse.Namespace) -> None:
    from tfx_transfer.pipeline import demo_data

    counts = demo_data.write_digits_demo(args.dir)
    for split, labels in counts.items():
        print(f"{split}: {sum(labels.values())} images in {len(labels)} classes -> {os.path.join(args.dir, split)}")


def _demo(args: argparse.Namespace) -> None:
    from tfx_transfer.pipeline import demo

    demo.run_demo(args.workdir)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tfx-transfer", description="Transfer learning for TFX pipelines.")
    parser.add_argument("-v", "--verbose", action="store_true", help="show TFX and Beam logs")
    verbs = parser.add_subparsers(dest="verb", required=True, metavar="VERB")

    make_data = verbs.add_parser(
        "make-demo-data", help="write scikit-learn's digits as DIR/<split>/<label>/*.png (offline)"
    )
    make_data.add_argument("dir", help="output folder")
    make_data.set_defaults(handler=_make_demo_data)

    demo = verbs.add_parser("demo", help="run the offline demo pipeline on LocalDagRunner")
    demo.add_argument("--workdir", default=configs.DEMO_WORKDIR, help="where data, pipeline root and MLMD go")
    demo.set_defaults(handler=_demo)
    return parser


def _configure_logging(verbose: bool) -> None:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    level = logging.INFO if verbose else logging.WARNING
    logging.basicConfig(level=level, format="%(levelname)s %(message)s")
    for handler in logging.getLogger().handlers:
        handler.setLevel(level)
    if not verbose:
        import warnings

        warnings.filterwarnings("ignore")
        from absl import logging as absl_logging

        absl_logging.set_verbosity(absl_logging.WARNING)


def main(argv: Optional[List[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    _configure_logging(args.verbose)
    start = time.perf_counter()
    try:
        args.handler(args)
    except (UserError, ValueError) as err:
        print(f"tfx-transfer {args.verb}: error: {err}", file=sys.stderr)
        return 2
    print(f"done in {time.perf_counter() - start:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
