"""``facevlm predict``, run as a user runs it: a separate process in the project folder.

Specification: one JSON line per scan or sequence (``file, model, prediction, abstained,
probabilities {class: p}, timings``; an unfamiliar input is not answered: ``test_answer_sets.py``); a bad file gives one line on stderr naming it and the reason, the others
are still predicted, and the exit code is 2; ``--model``, ``--version`` and ``--modality`` are
honoured, ``--model`` also for the models of the 4D and micro-expression pipelines (their own
classes and frame selection); a missing model is one line and exit 2. (A 4D model of stacked
frames and its JSON record are specified in-process, in ``test_predictor.py``: a refused scan
takes the CLI's one path for a bad file, checked here.)
"""

from __future__ import annotations

import json
import subprocess

from tiny_project import CLASSES, MER_CLASSES, tiny_bundle, truncated_scan

from facevlm.inference import Project, catalog_versions
from preloaded_python import run_preloaded


def facevlm(*args, cwd) -> subprocess.CompletedProcess[str]:
    """``facevlm ARGS`` in a process of its own (tests/preloaded_python.py)."""
    return run_preloaded("-m", "facevlm.commands", *args, cwd=cwd, timeout=600)


def test_predict_scans_and_a_sequence_and_report_the_bad_file(tiny_project, scans, tmp_path):
    bad = truncated_scan(tmp_path / "bad")
    version = catalog_versions(Project.open(tiny_project), "smile")[0]
    done = facevlm(
        "predict",
        scans / "scan" / "F0001_HA04WH_F3D.wrl",
        bad,
        scans / "F001",
        "--model",
        "smile",
        "--version",
        version,
        "--modality",
        "shaded",
        cwd=tiny_project,
    )
    assert done.returncode == 2, done.stderr
    records = [json.loads(line) for line in done.stdout.splitlines()]
    assert [r["file"].rsplit("/", 1)[-1] for r in records] == ["F0001_HA04WH_F3D.wrl", "Happy"]
    for record in records:
        # a shaded render asked of a texture-trained model: unfamiliar, so it cannot tell
        assert record["model"] == "smile" and record["prediction"] is None
        assert record["abstained"] is True
        assert record["abstain_reason"].startswith("unfamiliar input: shaded render")
        assert list(record["probabilities"]) == CLASSES
        assert abs(sum(record["probabilities"].values()) - 1) < 1e-3
        assert set(record["timings"]) == {"read", "render", "encode", "classify", "total"}
        assert (
            record["method"] == "linear probe" and not record["notes"]
        )  # shaded: no texture needed
    assert len(records[1]["frames"]) == 12
    (line,) = done.stderr.splitlines()  # the bad file's line, and no logging around it
    assert line.startswith("facevlm: error: ") and "truncated.wrl" in line


def test_verbose_brings_the_logging_back_and_keeps_stdout_for_the_json(tiny_project, scans):
    """With ``--verbose`` stderr shows the libraries' logging. Without it stderr holds only the
    errors: the other runs of this module check that (one line for a bad file, nothing for a
    run that succeeds), so no second process runs here just to see a quiet stderr."""
    scan = scans / "scan" / "F0001_HA04WH_F3D.wrl"
    verbose = facevlm(
        "predict", scan, "--model", "smile", "--modality", "shaded", "--verbose", cwd=tiny_project
    )
    assert verbose.returncode == 0, verbose.stderr
    assert len(verbose.stderr.splitlines()) > 1, "--verbose should show the libraries' logging"
    # the random-initialisation warning is not shown for a model whose weights are then loaded
    assert "initialized randomly" not in verbose.stderr
    (record,) = [json.loads(line) for line in verbose.stdout.splitlines()]
    assert record["abstained"] is True and record["prediction"] is None  # unfamiliar: shaded


def test_no_model_is_one_line_and_exit_2(tmp_path, tiny_project, scans):
    import shutil

    root = tmp_path / "untrained"
    shutil.copytree(tiny_project / "conf", root / "conf")
    shutil.copy(tiny_project / "pyproject.toml", root / "pyproject.toml")
    (root / "src").mkdir()
    done = facevlm("predict", scans / "scan", cwd=root)
    assert done.returncode == 2 and not done.stdout
    (line,) = [line for line in done.stderr.splitlines() if line.startswith("facevlm: error")]
    assert "no trained affectvlm model" in line and "kedro run" in line


def test_a_micro_expression_model_predicts_a_sequence_from_its_surface_motion(
    tiny_project, scans, tmp_path
):
    """``smile_mer`` as ``train_smile_mer`` saves it: 4DME's classes, trained on surface-motion
    maps of the onset and apex (an unlabelled upload: the first and the middle frame)."""
    import shutil

    root = tmp_path / "project"
    shutil.copytree(tiny_project, root, symlinks=True)
    project = Project.open(root)
    render = {**project.render_params, "frames": "surface_motion"}
    bundle = tiny_bundle("smile", 5, probe=True, classes=MER_CLASSES, render=render)
    project.catalog.save("smile_mer.model", bundle)

    done = facevlm("predict", scans / "F001", "--model", "smile_mer", cwd=root)

    assert done.returncode == 0, done.stderr
    assert done.stderr == "", "a run that succeeds without --verbose writes nothing to stderr"
    (record,) = [json.loads(line) for line in done.stdout.splitlines()]
    assert record["model"] == "smile_mer" and list(record["probabilities"]) == MER_CLASSES
    assert record["prediction"] in MER_CLASSES and record["method"] == "linear probe"
    assert record["sequence_frames"] == [0, 5] and record["sequence_input"] == "surface motion"
    assert len(record["frames"]) == 12  # the per-frame timeline is there too
