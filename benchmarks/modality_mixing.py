"""What training on textured and shaded renders (``render.modality: texture+shaded``) does to
AffectVLM on held-out scans of each modality, and what it costs the fit.

One fold of the default AffectVLM protocol on a render set made with ``texture+shaded`` (the
built-in one after ``kedro run --pipeline=render --params "render.modality=texture+shaded"``):
the same backbone start and schedule trained twice, on the textured rows only and on both
(each scan one sample, its modality drawn at every step), each scored on the fold's held-out
scans in each modality. Prints one line per training and the JSON of all.

    PYTHONPATH=src python benchmarks/modality_mixing.py --epochs 40
    PYTHONPATH=src python benchmarks/modality_mixing.py --weights data/06_models/pretrained_backbone.pt/<version>/pretrained_backbone.pt

Measured 2026-11-25 (built-in set, fold 0: 144 training scans, 47 held-out scans per modality;
chance 0.167; a shared two-core machine, so the wall times are inflated; CPU seconds of the fit):

    backbone                               trained on       textured  shaded  fit CPU
    pretrained on texture+shaded, 30 ep.   texture             0.702   0.638   33.2 s
    pretrained on texture+shaded, 30 ep.   texture+shaded      0.723   0.745   33.3 s
    random init                            texture             0.255   0.277   48.4 s
    random init                            texture+shaded      0.319   0.298   44.5 s

(40 epochs each; the backbone from ``kedro run --pipeline=pretrain --params
"render.modality=texture+shaded,pretraining.training.train.epochs=30"``.)
"""

from __future__ import annotations

import argparse
import copy
import json
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import yaml
from kedro.io.core import Version

from facevlm.datasets.render_set import RenderSetDataset
from facevlm.experiments import affectvlm
from facevlm.experiments.experiment_data import experiment_data
from facevlm.models.backbone import architecture_image_size
from facevlm.pipelines.training.nodes import build_prompt_bank
from facevlm.prompts.augmented import class_prompts
from facevlm.scans.protocols import make_folds

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--renders", default="data/04_feature/renders", help="versioned render set")
    parser.add_argument("--index", default="data/02_intermediate/scan_index.parquet")
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument("--fold", type=int, default=0, help="position among the protocol's folds")
    parser.add_argument("--weights", default=None, help="backbone weight file (default: random)")
    args = parser.parse_args()
    torch.set_num_threads(1)

    renders = RenderSetDataset(filepath=args.renders, version=Version(None, None)).load()
    if renders.modalities != ["texture", "shaded"]:
        raise SystemExit(f"{args.renders}: rendered in {renders.modalities or 'one modality'}")
    index_dir = sorted(Path(args.index).iterdir())[-1]
    index = pd.read_parquet(index_dir / Path(args.index).name)
    params = yaml.safe_load((ROOT / "conf/base/parameters_train_affectvlm.yml").read_text())
    params = params["affectvlm"]
    experiment = copy.deepcopy(params["experiment"])
    experiment["model"]["backbone"]["pretrained"] = args.weights
    experiment["train"].update(epochs=args.epochs)
    experiment["execution"] = {"progress": False, "device": "cpu", "cpu_threads": 1}
    cfg = affectvlm.AffectVLMConfig.from_params(experiment)
    folds = make_folds(index, params["protocol"])
    bank = build_prompt_bank(folds, params)
    size = architecture_image_size(cfg.model.backbone.name, cfg.model.backbone.image_size)
    mixed = experiment_data(renders, folds, cfg.data.classes, size)
    textured = renders.subset(renders.samples["modality"] == "texture")
    textured.samples = textured.samples.drop(columns=["modality"])
    texture_only = experiment_data(textured, folds, cfg.data.classes, size)

    fold = mixed.folds[args.fold]
    _, test_rows = mixed.split(fold)
    out = {"epochs": args.epochs, "fold": int(fold), "weights": args.weights}
    for name, data in (("texture", texture_only), ("texture+shaded", mixed)):
        train_rows, _ = data.split(fold)
        wall, cpu = time.perf_counter(), time.process_time()
        fitted = affectvlm.fit(data, train_rows, bank, cfg)
        result = {
            "fit_wall_s": round(time.perf_counter() - wall, 1),
            "fit_cpu_s": round(time.process_time() - cpu, 1),
        }
        for modality in ("texture", "shaded"):
            rows = test_rows[(mixed.samples["modality"].iloc[test_rows] == modality).to_numpy()]
            predicted = affectvlm.predict(
                fitted.model,
                fitted.tokenizer,
                mixed.views[rows],
                class_prompts(bank),
                mixed.classes,
                cfg,
            )
            result[f"accuracy_{modality}"] = round(
                float(np.mean(predicted == mixed.labels[rows])), 3
            )
            result[f"n_{modality}"] = len(rows)
        out[name] = result
        print(name, result, flush=True)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
