"""Numerics fingerprint: which settings make two CPUs compute the same bits.

Why: on one machine a run repeats to the digit, yet two machines give figures one or two fold
standard deviations apart. The candidates are the code paths the numerical libraries choose per
CPU (torch's ATen kernels: AVX2 or AVX-512; oneDNN's ISA; MKL's and OpenBLAS's kernels; Mesa
llvmpipe's SIMD width) and the thread counts (a reduction split over more threads adds in
another order). This prints, for each stage of the project's computation and each setting, a
short digest of what it computed: equal digests on two machines mean equal bits.

Stages (each skipped, with its reason, where its libraries are missing: the device machines
have torch and numpy but not VTK or the project's other dependencies):

- ``numpy``: float64 and float32 matrix products, a solve and an SVD (NumPy's BLAS/LAPACK, what
  the face pose and the mesh generators use).
- ``torch-ops``: one forward and backward of a patch convolution, linear layers, layer norm,
  attention, GELU and a sum, on fixed inputs.
- ``train-mini``: six AdamW steps (gradient clipping, deterministic algorithms, as the project's
  loop) of a pure-torch CLIP of the ``facevlm-tiny`` sizes, on a fixed batch; the digest of the
  weights after them, and the time of one step.
- ``train-tiny``: one epoch (3 steps) of the project's own loop (``facevlm.trainer.train``) on
  AffectVLM with the ``facevlm-tiny`` backbone, random uint8 views; digest of the weights.
- ``synthetic``: the project's generator writing one BU-3DFE subject (25 scans); digest of the
  files' bytes.
- ``render``: the first written scan, face pose estimated and rendered shaded as the default
  ``params:render`` says; digest of the pixels.

Settings: each runs in a fresh process (the variables are read when the libraries load):
``native`` (nothing pinned), one knob at a time, and ``pinned`` (all of them: the project's
default, ``facevlm.numerics``), each at 1, 2 and (where the machine has more) all cores'
threads. Run from the repository root::

    PYTHONPATH=src python benchmarks/numerics_fingerprint.py [--stages numpy,torch-ops,...]
        [--settings native,pinned] [--threads 1,2] [--columns native:16,pinned:2]
        [--json out.json]

Compare the printed table with the same command's on another CPU (docs/benchmarks.md,
"Numerics across CPUs").
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import _results

#: The project's fixed numerical path (facevlm.numerics.PINNED_ENVIRONMENT, copied: a column's
#: variables are this table's, whatever the package's pin becomes).
PINNED = {
    "ATEN_CPU_CAPABILITY": "avx2",
    "ONEDNN_MAX_CPU_ISA": "AVX2",
    "MKL_CBWR": "AVX2",
    "OPENBLAS_CORETYPE": "Haswell",
}
#: name -> the variables it sets (every column starts from none of them)
SETTINGS: dict[str, dict[str, str]] = {
    "native": {},
    "aten-avx2": {"ATEN_CPU_CAPABILITY": "avx2"},
    "onednn-avx2": {"ONEDNN_MAX_CPU_ISA": "AVX2"},
    "mkl-cbwr": {"MKL_CBWR": "AVX2"},
    "openblas-haswell": {"OPENBLAS_CORETYPE": "Haswell"},
    "lp-128": {"LP_NATIVE_VECTOR_WIDTH": "128"},
    "pinned": PINNED,
    "pinned-strict": {**PINNED, "MKL_CBWR": "AVX2,STRICT"},  # MKL's thread-independent mode
}
VARIABLES = {name for setting in SETTINGS.values() for name in setting}
STAGES = ("numpy", "torch-ops", "train-mini", "train-tiny", "synthetic", "render")
THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "LP_NUM_THREADS")


def digest(*chunks: bytes) -> str:
    h = hashlib.sha256()
    for chunk in chunks:
        h.update(chunk)
    return h.hexdigest()[:10]


# ---- stages (run in the child process) ----------------------------------------------------------


def stage_numpy(threads: int) -> dict:
    import numpy as np

    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((301, 257)), rng.standard_normal((257, 283))
    square = rng.standard_normal((120, 120))
    products = [a @ b, a.astype(np.float32) @ b.astype(np.float32)]
    solved = np.linalg.solve(square, rng.standard_normal(120))
    singular = np.linalg.svd(square, compute_uv=False)
    return {"digest": digest(*(x.tobytes() for x in (*products, solved, singular)))}


def stage_torch_ops(threads: int) -> dict:
    import torch
    import torch.nn.functional as F

    g = torch.Generator().manual_seed(0)
    x = torch.randn(16, 3, 64, 64, generator=g)
    conv = torch.randn(128, 3, 16, 16, generator=g, requires_grad=True)
    w1 = torch.randn(512, 128, generator=g).mul_(0.05).requires_grad_()
    w2 = torch.randn(128, 512, generator=g).mul_(0.05).requires_grad_()
    tokens = F.conv2d(x, conv, stride=16).flatten(2).transpose(1, 2)  # (16, 16, 128)
    tokens = F.layer_norm(tokens, (128,))
    q = k = v = tokens.view(16, 16, 4, 32).transpose(1, 2)
    attended = F.scaled_dot_product_attention(q, k, v).transpose(1, 2).reshape(16, 16, 128)
    out = F.gelu(attended @ w1.T) @ w2.T
    loss = out.square().mean() + F.log_softmax(out.sum(1), -1).mean()
    loss.backward()
    return {
        "digest": digest(
            *(t.detach().numpy().tobytes() for t in (out, loss, conv.grad, w1.grad, w2.grad))
        )
    }


def _mini_clip():
    """A CLIP of facevlm-tiny's sizes in plain torch (the device machines lack open_clip)."""
    import torch
    from torch import nn

    class Tower(nn.Module):
        def __init__(self, width: int, heads: int, layers: int) -> None:
            super().__init__()
            layer = nn.TransformerEncoderLayer(
                width,
                heads,
                4 * width,
                dropout=0.0,
                activation="gelu",
                batch_first=True,
                norm_first=True,
            )
            self.blocks = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
            self.norm = nn.LayerNorm(width)
            self.proj = nn.Linear(width, 64, bias=False)

    class MiniClip(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.patch = nn.Conv2d(3, 128, 16, stride=16, bias=False)
            self.pos = nn.Parameter(torch.randn(17, 128) * 0.02)
            self.cls = nn.Parameter(torch.zeros(1, 1, 128))
            self.vision = Tower(128, 4, 3)
            self.embed = nn.Embedding(1000, 64)
            self.text_pos = nn.Parameter(torch.randn(32, 64) * 0.01)
            self.text = Tower(64, 2, 2)
            self.logit_scale = nn.Parameter(torch.tensor(2.659))

        def forward(self, images, tokens):
            x = self.patch(images).flatten(2).transpose(1, 2)
            x = torch.cat([self.cls.expand(len(x), -1, -1), x], 1) + self.pos
            x = self.vision.norm(self.vision.blocks(x))[:, 0]
            image = nn.functional.normalize(self.vision.proj(x), dim=-1)
            t = self.embed(tokens) + self.text_pos
            t = self.text.norm(self.text.blocks(t))[:, -1]
            text = nn.functional.normalize(self.text.proj(t), dim=-1)
            logits = self.logit_scale.exp() * image @ text.T
            target = torch.arange(len(logits))
            return (
                nn.functional.cross_entropy(logits, target)
                + nn.functional.cross_entropy(logits.T, target)
            ) / 2

    return MiniClip()


def stage_train_mini(threads: int) -> dict:
    import torch

    torch.manual_seed(0)
    model = _mini_clip()
    g = torch.Generator().manual_seed(1)
    images = torch.rand(16, 3, 64, 64, generator=g)
    tokens = torch.randint(0, 1000, (16, 32), generator=g)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.05)
    torch.use_deterministic_algorithms(True)
    losses, times = [], []
    for _ in range(6):
        start = time.perf_counter()
        opt.zero_grad()
        loss = model(images, tokens)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        times.append(time.perf_counter() - start)
        losses.append(loss.item())
    weights = [p.detach().numpy().tobytes() for p in model.parameters()]
    return {
        "digest": digest(*weights),
        "loss": repr(losses[-1]),
        "step_ms": 1e3 * sorted(times[1:])[len(times[1:]) // 2],
    }


def stage_train_tiny(threads: int) -> dict:
    import numpy as np
    import pandas as pd
    import torch

    from facevlm.models.augment import AugmentConfig, MixedViewAugmentation
    from facevlm.models.backbone import BackboneConfig
    from facevlm.models.losses import AffectVLMLoss
    from facevlm.models.multiview_clip import MultiviewCLIPConfig, build_multiview_clip
    from facevlm.models.multiview_data import MultiviewDataset
    from facevlm.prompts.augmented import build_prompt_bank, candidate_prompts
    from facevlm.scans.labels import BASIC_EMOTIONS
    from facevlm.trainer import ExecutionConfig, TrainConfig, train

    torch.manual_seed(0)
    config = MultiviewCLIPConfig(backbone=BackboneConfig(name="facevlm-tiny", pretrained=None))
    model, tokenizer = build_multiview_clip(config)
    rng = np.random.default_rng(0)
    n = 48
    size = model.image_size
    views = rng.integers(0, 256, size=(n, 3, size, size, 3), dtype=np.uint8)
    labels = rng.integers(0, len(BASIC_EMOTIONS), n)
    index = pd.DataFrame(
        {
            "gender": rng.choice(["F", "M"], n),
            "age": rng.integers(18, 80, n),
            "ethnicity": rng.choice(["White", "Asian", "Black"], n),
            "expression": [BASIC_EMOTIONS[c] for c in labels],
        }
    )
    bank = build_prompt_bank(index, BASIC_EMOTIONS)
    prompts = [candidate_prompts(bank, row) for row in index.to_dict("records")]
    dataset = MultiviewDataset(views, labels, prompts=prompts, tokenizer=tokenizer, image_size=size)
    history = train(
        model,
        [AffectVLMLoss()],
        dataset,
        TrainConfig(epochs=1, batch_size=16, loss_labels="labels", warmup_epochs=1.0),
        execution=ExecutionConfig(
            device="cpu", cpu_threads=threads, progress=False, prefetch=False
        ),
        augment=MixedViewAugmentation(AugmentConfig()),
    )
    record = history.epochs[-1]
    weights = [p.detach().numpy().tobytes() for p in model.state_dict().values()]
    return {
        "digest": digest(*weights),
        "loss": repr(record.get("loss")),
        "step_ms": 1e3 * record["time_s"] / 3,
    }


def stage_synthetic(threads: int, folder: Path) -> dict:
    from facevlm.synthetic.config import SyntheticConfig
    from facevlm.synthetic.writer import generate_synthetic_dataset

    root = folder / "synthetic"
    generate_synthetic_dataset(
        root, SyntheticConfig(n_subjects=1, layouts=("bu3dfe",), face_sources=("ict",), workers=1)
    )
    files = sorted(p for p in root.rglob("*") if p.is_file() and p.name != "manifest.json")
    return {
        "digest": digest(
            *(p.relative_to(root).as_posix().encode() + p.read_bytes() for p in files)
        ),
        "files": len(files),
    }


def stage_render(threads: int, folder: Path) -> dict:
    from facevlm.render.renderer import MultiviewRenderer, RenderSettings
    from facevlm.scans.formats.dispatch import read_mesh

    scans = sorted((folder / "synthetic").rglob("*.wrl"))
    if not scans:
        raise RuntimeError("no synthetic scan to render (the synthetic stage did not run)")
    mesh = read_mesh(scans[0])
    views = MultiviewRenderer(RenderSettings(modality="shaded", pose="estimate")).render(mesh)
    return {"digest": digest(views.tobytes()), "scan": scans[0].name}


def child(stages: list[str], threads: int) -> None:
    """Run the stages in this process and print their results as one JSON line."""
    results: dict[str, dict] = {}
    import numpy  # noqa: F401  the BLAS loads before torch, as in the project's processes

    try:
        import torch

        torch.set_num_threads(threads)
        results["_torch"] = {
            "capability": torch.backends.cpu.get_cpu_capability(),
            "version": torch.__version__,
        }
    except ImportError as error:
        results["_torch"] = {"skipped": str(error)}
    with tempfile.TemporaryDirectory() as tmp:
        for stage in stages:
            function = {
                "numpy": stage_numpy,
                "torch-ops": stage_torch_ops,
                "train-mini": stage_train_mini,
                "train-tiny": stage_train_tiny,
            }.get(stage)
            start = time.perf_counter()
            try:
                if function is not None:
                    results[stage] = function(threads)
                elif stage == "synthetic":
                    results[stage] = stage_synthetic(threads, Path(tmp))
                else:
                    results[stage] = stage_render(threads, Path(tmp))
            except Exception as error:  # a missing library or data: say so, go on
                results[stage] = {"skipped": f"{type(error).__name__}: {error}"[:120]}
            results[stage]["s"] = round(time.perf_counter() - start, 2)
    print("FINGERPRINT " + json.dumps(results))


# ---- the parent: one child per setting, one table ----------------------------------------------


def run_setting(name: str, threads: int, stages: list[str]) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in VARIABLES}
    env["FACEVLM_NATIVE_NUMERICS"] = "1"  # should a column's code call the pin, it adds nothing
    env.update(SETTINGS[name])
    env.update({variable: str(threads) for variable in THREAD_VARIABLES})
    env.setdefault("HF_HUB_OFFLINE", "1")
    command = [sys.executable, __file__, "--child", "--stages", ",".join(stages)]
    command += ["--threads", str(threads)]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=900)
    for line in done.stdout.splitlines():
        if line.startswith("FINGERPRINT "):
            return json.loads(line[len("FINGERPRINT ") :])
    return {"_error": (done.stderr or done.stdout)[-300:]}


def cell(result: dict | None) -> str:
    if result is None:
        return ""
    if "skipped" in result:
        return "skipped"
    text = result["digest"]
    if "step_ms" in result:
        text += f" ({result['step_ms']:.0f} ms)"
    return text


def cpu_name() -> str:
    from facevlm.numerics import cpu_field

    return cpu_field("model name") or "unknown CPU"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--stages", default=",".join(STAGES))
    parser.add_argument("--settings", default=",".join(SETTINGS))
    parser.add_argument("--threads", default=None, help="comma list (default: 1,2 and all cores)")
    parser.add_argument(
        "--columns", default=None, help="explicit SETTING:THREADS list (overrides the two above)"
    )
    parser.add_argument("--json", default=None, help="also write every result here")
    parser.add_argument(
        "--table",
        default="fingerprint",
        help="the results file's table to write (one per machine compared: A, B, ...)",
    )
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    stages = [s for s in args.stages.split(",") if s]
    unknown = set(stages) - set(STAGES)
    if unknown:
        parser.error(f"unknown stage(s) {sorted(unknown)}; known: {', '.join(STAGES)}")
    if args.child:
        child(stages, int(args.threads))
        return
    cores = len(os.sched_getaffinity(0))
    counts = args.threads.split(",") if args.threads else sorted({"1", "2", str(cores)}, key=int)
    columns = [(name, int(t)) for name in args.settings.split(",") for t in counts]
    if args.columns:
        columns = [(c.split(":")[0], int(c.split(":")[1])) for c in args.columns.split(",")]
    results = {}
    for name, threads in columns:
        key = f"{name}·{threads}t"
        results[key] = run_setting(name, threads, stages)
        # every result as it comes, so that a run cut short still says what it found
        print(f"{key} {json.dumps(results[key])}", file=sys.stderr, flush=True)
        if args.json:
            Path(args.json).write_text(
                json.dumps({"cpu": cpu_name(), "cores": cores, "results": results}, indent=1)
            )
    first = next(iter(results.values()))
    print(f"# {cpu_name()}, {cores} cores, torch {first.get('_torch', {}).get('version', '-')}")
    print("| stage | " + " | ".join(results) + " |")
    print("|---" * (len(results) + 1) + "|")
    print(
        "| torch CPU capability | "
        + " | ".join(r.get("_torch", {}).get("capability", "-") for r in results.values())
        + " |"
    )
    for stage in stages:
        print(f"| {stage} | " + " | ".join(cell(r.get(stage)) for r in results.values()) + " |")
    capability = {key: r.get("_torch", {}).get("capability", "-") for key, r in results.items()}
    _results.record(
        __file__,
        args.table,
        [
            {"stage": "torch CPU capability", **capability},
            *(
                {"stage": stage, **{k: cell(r.get(stage)) for k, r in results.items()}}
                for stage in stages
            ),
        ],  # fmt: skip
        notes="Each cell: the digest of what the stage computed (equal digests: equal bits), "
        "with a training step's time; columns: setting and threads.",
    )
    for key, result in results.items():
        for stage, part in result.items():
            if isinstance(part, dict) and "skipped" in part:
                print(f"{key} {stage}: {part['skipped']}")
        if "_error" in result:
            print(f"{key}: failed: {result['_error']}")


if __name__ == "__main__":
    main()
