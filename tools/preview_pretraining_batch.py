"""One pretraining batch as the backbone sees it: frontal render and the caption drawn for it.

Not part of the package: a visual check of the ``pretrain`` corpus (other renditions, capture
conditions and web-like captions than the evaluation set). Reads the latest
``pretraining.renders`` and ``pretraining.captions`` of a run in this checkout and draws a
batch the way training does (uniform over a sample's candidates, ``action_share`` weighting),
with the image augmentation of ``pretraining.training.augment`` applied to each tile (the
framing jitter: zoomed in or out, shifted, mirrored); ``--no-augment`` shows the plain renders.

    PYTHONPATH=src python tools/preview_pretraining_batch.py --out /tmp/pretraining_batch.png
"""

from __future__ import annotations

import argparse
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import yaml
from PIL import Image, ImageDraw

from facevlm.datasets.render_set import RenderSetDataset
from facevlm.experiments.pretrain import PretrainConfig, weighted_captions
from facevlm.models.augment import MixedViewAugmentation
from facevlm.prompts.captions import captions_by_sample


def _latest(folder: Path, name: str) -> Path:
    versions = sorted(folder.glob(f"*/{name}"))
    if not versions:
        raise SystemExit(f"nothing under {folder}; run the pretrain pipeline first")
    return versions[-1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=Path("/tmp/pretraining_batch.png"))
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--tile", type=int, default=160)
    parser.add_argument("--no-augment", action="store_true", help="show the renders as drawn")
    args = parser.parse_args()

    from kedro.io import Version

    render_set = RenderSetDataset(
        filepath="data/04_feature/pretraining/renders", version=Version(None, None)
    ).load()
    captions = pd.read_csv(
        _latest(Path("data/05_model_input/pretraining/captions.csv"), "captions.csv")
    )
    params = yaml.safe_load(Path("conf/base/parameters_pretrain.yml").read_text())
    cfg = PretrainConfig.from_params(params["pretraining"]["training"])
    share = cfg.action_share
    augment = None
    if cfg.augment is not None and not args.no_augment:
        augment = MixedViewAugmentation(cfg.augment)
    generator = torch.Generator().manual_seed(args.seed)
    emotion = captions_by_sample(captions, "emotion")
    action = captions_by_sample(captions, "action")
    rng = np.random.default_rng(args.seed)
    ids = [s for s in render_set.samples["sample_id"].astype(str) if s in emotion]
    chosen = rng.choice(len(ids), size=min(args.batch, len(ids)), replace=False)
    tiles = []
    for i in chosen:
        sample_id = ids[int(i)]
        pool = weighted_captions(emotion[sample_id], action.get(sample_id, []), share)
        caption = pool[int(rng.integers(len(pool)))]
        row = render_set.samples.index[render_set.samples["sample_id"].astype(str) == sample_id][0]
        frontal = render_set.subset(render_set.samples.index == row).to_array()[0, 0]
        if augment is not None:
            image = torch.from_numpy(frontal).permute(2, 0, 1).float().div(255)[None, None]
            seen = augment(image, generator=generator)[0, 0]  # (3, H, W) in [0, 1]
            frontal = seen.permute(1, 2, 0).mul(255).round().to(torch.uint8).numpy()
        tile = Image.fromarray(frontal).resize((args.tile, args.tile))
        canvas = Image.new("RGB", (args.tile, args.tile + 56), "white")
        canvas.paste(tile, (0, 0))
        draw = ImageDraw.Draw(canvas)
        text = "\n".join(textwrap.wrap(caption, 30)[:3])
        draw.text((3, args.tile + 2), text, fill="black")
        tiles.append(np.asarray(canvas))
        print(f"{sample_id}: {caption}")
    per_row = 4
    rows = [
        np.concatenate(tiles[k : k + per_row], axis=1)
        for k in range(0, len(tiles) - per_row + 1, per_row)
    ]
    Image.fromarray(np.concatenate(rows, axis=0)).save(args.out)
    print(args.out)


if __name__ == "__main__":
    main()
