"""Which of AffectVLM's prompts does the frozen starting point already understand?

Not part of the package: a look inside the ``baseline/zero_shot`` figure of a run. The frozen
backbone (pretrained towers, nothing fine-tuned) scores every sample of a training bundle
against the class prompts, once with the whole prompt bank (what the run logs) and once per
prompt template. A template whose emotion words the pretraining corpus never used scores near
chance; one whose words the corpus' captions share scores like the whole bank. Every sample of
the bundle is scored (zero-shot fits nothing, so there is nothing to hold out).

    PYTHONPATH=src python benchmarks/zero_shot_by_template.py \
        [--bundle data/06_models/training_runs/affectvlm-<key>/bundle]

Default bundle: the newest ``affectvlm-*`` training bundle (written by ``train_affectvlm``).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

RUNS = Path("data/06_models/training_runs")


def newest_bundle(prefix: str = "affectvlm-") -> Path:
    """The most recently written training bundle whose folder starts with ``prefix``."""
    found = sorted(
        (p for p in RUNS.glob(f"{prefix}*/bundle") if (p / "bundle.json").is_file()),
        key=lambda p: (p / "bundle.json").stat().st_mtime,
    )
    if not found:
        raise SystemExit(f"no {prefix}* training bundle under {RUNS}: run train_affectvlm first")
    return found[-1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--bundle", type=Path, default=None)
    args = parser.parse_args()

    from facevlm.experiments.common import build_model, embed_views, zero_shot_predict
    from facevlm.prompts.augmented import class_prompts
    from facevlm.runner.training_bundle import load_training_bundle

    bundle = load_training_bundle(args.bundle or newest_bundle())
    cfg = bundle.experiment_config()
    model, tokenizer = build_model(cfg.model, cfg.train.seed)
    embedded = embed_views(model, bundle.data.views, cfg.eval_batch_size, "cpu")
    classes, truth = bundle.data.classes, bundle.data.labels
    print(f"bundle {bundle.folder}: {len(truth)} samples, {len(classes)} classes")
    print(f"{'accuracy':>8}  {'prompts':>7}  template  (recall per class: {', '.join(classes)})")

    def score(bank, name: str) -> None:
        prompts = class_prompts(bank)
        if not all(c in prompts for c in classes):
            print(f"{'-':>8}  {len(bank):7d}  {name}  (not every class has a prompt)")
            return
        predicted = zero_shot_predict(model, tokenizer, embedded.fused, prompts, classes)
        recall = [float(np.mean(predicted[truth == i] == i)) for i in range(len(classes))]
        print(
            f"{float(np.mean(predicted == truth)):8.3f}  {len(bank):7d}  {name}  "
            f"({', '.join(f'{r:.2f}' for r in recall)})"
        )

    score(bundle.prompt_bank, "the whole bank (baseline/zero_shot)")
    for template, bank in bundle.prompt_bank.groupby("template", sort=True):
        score(bank, str(template))


if __name__ == "__main__":
    main()
