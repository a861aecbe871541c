"""How often the embedding drift check cries wolf, and whether it still sees a real shift.

The drift check decides which path a run takes (adapt or not), so its false alarms matter most
where the sets are small. Offline data: scikit-learn's digits 5-9 (32x32 RGB PNGs) through the
source CNN of `recipe_parity.py` (trained on digits 0-4), at two of its cuts: `flatten` (1,152
sparse ReLU features: the hard case) and `dense` (64).

* null: a random split of the same images, `reference` rows against the rest (at most 1,000
  compared): there is no drift, so every "drift" is a false alarm;
* inverted / rotated / dimmed: the reference rows as they are, against the other images
  inverted, rotated by 90 degrees, or at 70 % brightness (a mild shift): real shifts, which
  must still be flagged.

Each case is checked on `--splits` random splits per reference size, with the check's defaults
(`drift.check_drift`, `DriftConfig()`), as EmbeddingDriftValidator runs it.

    python bench/drift_false_alarms.py [--sizes 20 50 200] [--splits 20] [--workdir DIR]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import warnings

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

CUTS = ("flatten", "dense")
SHIFTS = ("null", "inverted", "rotated", "dimmed")


def _embeddings(source, pixels, cut: str):
    import keras

    model = keras.Model(source.inputs, source.get_layer(cut).output)
    return model.predict(pixels, batch_size=256, verbose=0).reshape(len(pixels), -1)


def _shifted(pixels, shift: str):
    import numpy as np

    if shift == "inverted":
        return 255.0 - pixels
    if shift == "rotated":
        return np.rot90(pixels, k=1, axes=(1, 2)).copy()
    if shift == "dimmed":
        return 0.7 * pixels
    return pixels


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[20, 50, 200])
    parser.add_argument("--splits", type=int, default=20)
    parser.add_argument("--workdir", default="")
    args = parser.parse_args()
    started = time.perf_counter()
    warnings.filterwarnings("ignore")  # sklearn's convergence notes on separable shifted sets

    import numpy as np

    import recipe_parity
    from tfx_transfer.trainer.domain import drift

    workdir = args.workdir or tempfile.mkdtemp(prefix="bench_drift_")
    _, pixels, targets, source, _ = recipe_parity.digits_and_source(workdir)
    target_rows = np.flatnonzero(~np.isin(targets, recipe_parity.SOURCE_DIGITS))
    pixels = pixels[target_rows]
    print(f"digits 5-9: {len(pixels)} images; cuts {list(CUTS)}; {args.splits} random splits per size; "
          f"thresholds AUC > {drift.DEFAULT_AUC_THRESHOLD} and p < {drift.DEFAULT_P_THRESHOLD}")
    print(f"{'cut':8s} {'case':9s} {'reference':>9s} {'flagged':>8s} {'rate':>6s} {'mean AUC':>9s} {'median p':>9s}")
    for cut in CUTS:
        plain = _embeddings(source, pixels, cut)
        moved = {shift: _embeddings(source, _shifted(pixels, shift), cut) for shift in SHIFTS if shift != "null"}
        for shift in SHIFTS:
            for size in args.sizes:
                flagged, aucs, ps = 0, [], []
                for split in range(args.splits):
                    order = np.random.default_rng(1000 * size + split).permutation(len(pixels))
                    reference_rows, other_rows = order[:size], order[size:size + 1000]
                    other = plain[other_rows] if shift == "null" else moved[shift][other_rows]
                    result = drift.check_drift(plain[reference_rows], other, seed=split)
                    flagged += int(result.drift)
                    aucs.append(result.auc)
                    ps.append(result.p_value)
                print(f"{cut:8s} {shift:9s} {size:9d} {flagged:4d}/{args.splits:<3d} {flagged / args.splits:6.0%} "
                      f"{np.mean(aucs):9.3f} {np.median(ps):9.3g}", flush=True)
    print(f"runtime {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
