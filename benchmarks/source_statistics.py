"""What the models trained on one face source keep of what transfers to the other, with each
set standardised by its own statistics (no labels).

``source_gap.py`` finds that a linear read of the raw views transfers between the face sources
once each set's own pixel mean and spread are taken out (0.38-0.43 against chance 0.167), better
than the models trained on one source (``cross_generator.py``: 0.17-0.32). This script asks
where in the models that is lost. For each direction of a ``cross_generator.py`` work folder (its
trained projects and test sets, reused as they are), on the test scans its protocol selects:

- AffectVLM's prompt classifier on the fused embedding: as it is, with the test set's mean
  embedding moved onto the training set's, and with the test set standardised to the training
  set's mean and spread;
- SMILE-VLM's linear probe: as it is (the training set's mean and scale), and with the test
  set's own;
- a logistic regression fitted on the training source's scans and tested on the other's, on
  SMILE-VLM's fused embedding and on its image tower's early stage (the appearance features of
  :meth:`~facevlm.models.multiview_clip.MultiviewCLIP.encode_appearance`), each set as it is and
  standardised by its own statistics.

    PYTHONPATH=src python benchmarks/cross_generator.py --work /tmp/xgen --folds 1 --skip-handposed
    PYTHONPATH=src python benchmarks/source_statistics.py --work /tmp/xgen
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

import numpy as np


def _prompt_accuracy(classifier, fused, labels: np.ndarray) -> float:
    import torch.nn.functional as F

    return float(np.mean(classifier.predict(F.normalize(fused, dim=1)).numpy() == labels))


def _probe_accuracy(probe: dict, z, labels: np.ndarray) -> float:
    logits = z @ probe["weight"].T + probe["bias"]
    return float(np.mean(logits.argmax(1).numpy() == labels))


def direction(work: Path, train: str, test: str) -> None:
    from bundle_scoring import scored
    from cross_generator import evaluation_views
    from source_gap import linear_transfer, standardised

    from facevlm.experiments.common import PromptEnsembleClassifier
    from facevlm.inference import ModelChoice, Project
    from facevlm.inference import load_bundle as load_catalog_bundle

    project = Project.open(work / f"train-{train}")
    print(f"\n{train} -> {test}")
    for name in ("affectvlm", "smile"):
        model = scored(load_catalog_bundle(project, ModelChoice(name)), project.model_folder(name))
        views, labels = evaluation_views(work / f"test-{test}", project.params[name], model)
        own_views, own_labels = evaluation_views(
            work / f"train-{train}", project.params[name], model
        )
        test_emb = model._embed(views, appearance=True)
        own_emb = model._embed(own_views, appearance=True)
        classifier = PromptEnsembleClassifier.from_prompts(
            model.model, model.tokenizer, model.bundle.class_prompts, model.bundle.classes
        )

        f, own = test_emb.fused.float(), own_emb.fused.float()
        readings = [
            _prompt_accuracy(classifier, x, labels)
            for x in (
                f,
                f - f.mean(0) + own.mean(0),
                (f - f.mean(0)) / f.std(0) * own.std(0) + own.mean(0),
            )
        ]
        print(
            f"  {name} prompt classifier: as it is {readings[0]:.3f}, test mean moved onto the "
            f"training mean {readings[1]:.3f}, standardised to the training set {readings[2]:.3f}"
        )
        probe = model.bundle.linear_probe
        if probe is None:
            continue
        raw = test_emb.fused_raw.float()
        trained_statistics = _probe_accuracy(probe, (raw - probe["mean"]) / probe["scale"], labels)
        own_statistics = _probe_accuracy(
            probe, (raw - raw.mean(0)) / raw.std(0).clamp_min(1e-6), labels
        )
        print(
            f"  {name} probe: training statistics {trained_statistics:.3f}, the test set's own "
            f"{own_statistics:.3f}"
        )
        spaces = {
            "fused embedding": (own_emb.fused_raw.float().numpy(), raw.numpy()),
            "early stage (appearance)": (own_emb.appearance.numpy(), test_emb.appearance.numpy()),
        }
        for space, (own_x, test_x) in spaces.items():
            plain = linear_transfer(own_x, own_labels, test_x, labels)
            each = linear_transfer(standardised(own_x), own_labels, standardised(test_x), labels)
            print(
                f"  {name} {space} ({own_x.shape[1]} dims), a linear classifier: as it is "
                f"{plain:.3f}, each set standardised by its own statistics {each:.3f}"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--work", type=Path, default=Path("data/cross_generator"))
    args = parser.parse_args()
    sys.path.insert(0, str(Path(__file__).resolve().parent))  # bundle_scoring, cross_generator
    logging.disable(logging.WARNING)
    for train, test in (("procedural", "ict"), ("ict", "procedural")):
        if (args.work / f"train-{train}" / "data" / "06_models").is_dir():
            direction(args.work, train, test)
        else:
            print(
                f"\n{train} -> {test}: no trained project under {args.work}; run cross_generator.py"
            )


if __name__ == "__main__":
    main()
