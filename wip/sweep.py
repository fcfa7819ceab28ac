"""Quick sweeps of training settings on the data the catalog holds (issue 12 measurements).

    python wip/sweep.py affectvlm '{"experiment": {"train": {"epochs": 20}}}' ...

Each JSON argument is an override of the namespace's parameter block; one line of metrics per
override is printed and appended to wip/sweep_results.jsonl.
"""
import json, sys, time, logging
from pathlib import Path

from kedro.framework.session import KedroSession
from kedro.framework.startup import bootstrap_project

from facevlm.pipelines.training.nodes import cross_validate_model, deep_merge

logging.basicConfig(level=logging.WARNING)
root = Path(__file__).resolve().parents[1]
bootstrap_project(root)
ns = sys.argv[1]
with KedroSession.create(project_path=root) as session:
    ctx = session.load_context()
    cat, params = ctx.catalog, ctx.params
    renders = cat.load("renders")
    folds = cat.load(f"{ns}.fold_table")
    bank = cat.load(f"{ns}.prompt_bank")
    weights = cat.load("pretrained_backbone")
    base = params[ns]
    for arg in sys.argv[2:]:
        over = json.loads(arg)
        p = deep_merge(base, over)
        p["experiment"]["train"]["progress"] = False
        t = time.time()
        result, _ = cross_validate_model(renders, folds, bank, p, params["dataset"], weights,
                                         "data/06_models/sweep_runs")
        m = dict(result.final_metrics())
        m.update(getattr(result, "baseline_metrics", None) or {})
        keep = {k: round(float(v), 3) for k, v in m.items()
                if ("accuracy" in k) and "recall" not in k}
        line = {"ns": ns, "override": over, "wall_s": round(time.time() - t, 1), **keep}
        print(json.dumps(line), flush=True)
        with open(root / "wip/sweep_results.jsonl", "a") as f:
            f.write(json.dumps(line) + "\n")
