"""``python -m facevlm.train``: train one model from a training bundle, on one process or many.

One process (CPU or one GPU)::

    python -m facevlm.train BUNDLE --out OUT

Several processes on one machine (8 GPUs; on CPU, gloo)::

    torchrun --standalone --nproc-per-node=8 -m facevlm.train BUNDLE --out OUT

Several machines (run the same command on each; BUNDLE and OUT on storage all of them see)::

    torchrun --nnodes=2 --nproc-per-node=8 --rdzv-backend=c10d --rdzv-endpoint=HOST:29500 \\
        -m facevlm.train BUNDLE --out OUT

The bundle is written by the Kedro pipeline (see ``facevlm.runner.training_bundle``). The result,
``OUT/result.pkl`` and ``OUT/fold_<k>/model.pt``, is read back with
``facevlm.runner.bundle_training.load_training_result``. Run the same command again after a
crash or a kill: finished folds are reused, the interrupted fold continues from its last epoch.

The command computes on the project's pinned numerical path (:mod:`facevlm.numerics`), as a
Kedro run does; ``FACEVLM_NATIVE_NUMERICS=1`` leaves each library on its own choice.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Sequence
from typing import Any


def _value(text: str) -> Any:
    """A ``--set`` value: JSON when it parses (numbers, true/false/null, lists), else a string."""
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m facevlm.train",
        description=(
            "Train AffectVLM or SMILE-VLM (whichever the bundle holds) on one fold or all folds "
            "of a training bundle. Under torchrun every process runs this command; they train "
            "one model together with DistributedDataParallel (NCCL on GPUs, gloo on CPU)."
        ),
        epilog=(
            "Examples: python -m facevlm.train data/05_model_input/bundles/smile --out runs/smile "
            "| torchrun --standalone --nproc-per-node=4 -m facevlm.train BUNDLE --out OUT --fold 0"
        ),
    )
    parser.add_argument("bundle", help="training bundle folder (bundle.json, views.npy, ...)")
    parser.add_argument(
        "--out",
        required=True,
        help="output folder: fold_<k>/{checkpoints/,result.pkl,model.pt}, result.pkl "
        "(on shared storage when several machines train)",
    )
    parser.add_argument(
        "--fold",
        type=int,
        action="append",
        dest="folds",
        metavar="F",
        help="train this fold (repeat for several); default: every fold of the bundle's config "
        "(its data.max_folds applies)",
    )
    parser.add_argument(
        "--checkpoint-dir",
        help="where epoch checkpoints go: DIR/fold_<k>/ (default OUT/fold_<k>/checkpoints)",
    )
    parser.add_argument(
        "--no-resume",
        action="store_true",
        help="start over: do not reuse finished folds or continue from epoch checkpoints",
    )
    parser.add_argument("--epochs", type=int, help="override train.epochs")
    parser.add_argument("--batch-size", type=int, help="override train.batch_size (per process)")
    parser.add_argument(
        "--device",
        help="override execution.device: auto (CUDA when present) | cpu | cuda | cuda:N",
    )
    parser.add_argument(
        "--num-workers",
        type=int,
        help="override execution.num_workers (loader processes per rank)",
    )
    parser.add_argument(
        "--compile",
        action="store_true",
        help="torch.compile the model (execution.compile: true)",
    )
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override any experiment parameter, dotted (e.g. --set train.lr_head=1e-3 --set "
        "loss.w_mt=0 --set execution.cpu_threads=4); VALUE is JSON when it parses, else a string",
    )
    parser.add_argument(
        "--log-level",
        default="INFO",
        help="logging level of facevlm's messages on rank 0 (other ranks and libraries: warnings)",
    )
    return parser


def overrides_of(args: argparse.Namespace) -> dict[str, Any]:
    """The dotted parameter overrides the options ask for."""
    overrides: dict[str, Any] = {}
    for item in args.set:
        if "=" not in item:
            raise SystemExit(f"--set expects KEY=VALUE, got {item!r}")
        key, text = item.split("=", 1)
        overrides[key.strip()] = _value(text)
    named = {
        "train.epochs": args.epochs,
        "train.batch_size": args.batch_size,
        "execution.device": args.device,
        "execution.num_workers": args.num_workers,
        "execution.compile": True if args.compile else None,
    }
    overrides.update({k: v for k, v in named.items() if v is not None})
    return overrides


def main(argv: Sequence[str] | None = None) -> int:
    # a run on the project's numerical path, set before torch and numpy load below; a worker
    # of a Kedro run finds it set already, or finds the run's FACEVLM_NATIVE_NUMERICS=1
    from facevlm.numerics import pin_process

    pin_process()
    args = build_parser().parse_args(argv)
    from torch.distributed.elastic.multiprocessing.errors import record

    from facevlm.runner.bundle_training import describe, train_from_bundle

    rank = int(os.environ.get("RANK", "0"))
    logging.basicConfig(
        level=logging.WARNING,  # other libraries (open_clip logs to the root logger): warnings
        format=f"[rank {rank}] %(asctime)s %(name)s %(levelname)s: %(message)s",
        force=True,  # an imported library may have configured the root logger already
    )
    logging.getLogger("facevlm").setLevel(args.log_level.upper() if rank == 0 else logging.WARNING)

    @record  # a failing worker's traceback reaches torchrun's summary (and the launcher's error)
    def run() -> None:
        result = train_from_bundle(
            args.bundle,
            args.out,
            folds=args.folds,
            overrides=overrides_of(args),
            resume=not args.no_resume,
            checkpoint_dir=args.checkpoint_dir,
        )
        if result is not None:
            print(describe(result))
        import torch.distributed as dist

        if dist.is_available() and dist.is_initialized():
            dist.destroy_process_group()

    run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
