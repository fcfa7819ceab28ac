"""Report figures are real Figures with the expected panels, and tables line ablations up."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure

from facevlm.evaluation.figures import (
    comparison_table,
    confusion_matrix_figure,
    embedding_figure,
    format_mean_std,
    pca_2d,
    reliability_figure,
    training_curves_figure,
)

CLASSES = ["anger", "happiness", "surprise"]
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _saves_png(fig: Figure, path: Path) -> None:
    fig.savefig(path)
    data = path.read_bytes()
    assert data.startswith(PNG_MAGIC) and len(data) > 1000


def _tick_texts(labels: list) -> list[str]:
    return [label.get_text() for label in labels]


def test_confusion_figure_labels_both_axes_and_normalises_rows(tmp_path: Path) -> None:
    counts = [[8, 2, 0], [1, 9, 0], [0, 0, 0]]  # surprise has no test sample
    fig = confusion_matrix_figure(counts, CLASSES)
    assert isinstance(fig, Figure)
    matrix_ax, colorbar_ax = fig.axes
    assert _tick_texts(matrix_ax.get_xticklabels()) == CLASSES
    assert _tick_texts(matrix_ax.get_yticklabels()) == CLASSES
    shown = np.asarray(matrix_ax.images[0].get_array(), dtype=float)
    assert shown[:2].sum(axis=1) == pytest.approx([1.0, 1.0])
    assert shown[0, 0] == pytest.approx(8 / 10)
    assert np.isnan(shown[2]).all()
    _saves_png(fig, tmp_path / "confusion.png")


def test_raw_confusion_figure_annotates_counts() -> None:
    counts = np.array([[8, 2, 0], [1, 9, 0], [0, 3, 4]])
    fig = confusion_matrix_figure(counts, CLASSES, normalise=False)
    texts = [t.get_text() for t in fig.axes[0].texts]
    assert sorted(texts) == sorted(str(v) for v in counts.ravel())


def test_confusion_figure_rejects_a_matrix_of_the_wrong_size() -> None:
    with pytest.raises(ValueError, match="shape"):
        confusion_matrix_figure([[1, 0], [0, 1]], CLASSES)


@pytest.fixture
def history() -> pd.DataFrame:
    rows = []
    for fold in range(3):
        for epoch in range(6):
            rows.append(
                {
                    "fold": fold,
                    "epoch": epoch,
                    "train/loss": 1.0 / (epoch + 1) + 0.1 * fold,
                    "val/accuracy": 0.5 + 0.05 * epoch if epoch % 2 else np.nan,
                    "train/lr": 1e-3 * (1 - epoch / 6),
                    "val/macro_f1": 0.4 + 0.04 * epoch + 0.01 * fold,
                }
            )
    return pd.DataFrame(rows)


def test_training_curves_have_one_panel_per_metric(history: pd.DataFrame, tmp_path: Path) -> None:
    fig = training_curves_figure(history)
    metrics = ["train/loss", "val/accuracy", "train/lr", "val/macro_f1"]
    assert [ax.get_title() for ax in fig.axes] == metrics  # spare grid cells are removed
    loss_ax = fig.axes[0]
    assert len(loss_ax.lines) == 3 + 1  # one per fold, plus the mean
    mean_line = loss_ax.lines[-1]
    expected = history.groupby("epoch")["train/loss"].mean()
    assert mean_line.get_ydata() == pytest.approx(expected.to_numpy())
    # NaN epochs are skipped rather than breaking the line.
    assert len(fig.axes[1].lines[0].get_xdata()) == 3
    _saves_png(fig, tmp_path / "curves.png")


def test_training_curves_draw_only_the_requested_metrics(history: pd.DataFrame) -> None:
    fig = training_curves_figure(history, metrics=["val/macro_f1"])
    assert [ax.get_title() for ax in fig.axes] == ["val/macro_f1"]
    with pytest.raises(ValueError, match="fold"):
        training_curves_figure(history.drop(columns="fold"))


def test_pca_finds_the_direction_of_largest_variance() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, 5)) * [0.1, 5.0, 0.1, 1.0, 0.1]  # variance mostly on axis 1
    projection, ratio = pca_2d(x)
    assert projection.shape == (200, 2)
    corr = np.corrcoef(projection[:, 0], x[:, 1])[0, 1]
    assert abs(corr) > 0.99
    assert ratio[0] > ratio[1] > 0 and ratio.sum() <= 1
    variance = np.var(x - x.mean(axis=0), axis=0)
    assert ratio[0] == pytest.approx(projection[:, 0].var() / variance.sum())
    # Deterministic sign: the same data gives the same picture.
    assert np.array_equal(projection, pca_2d(x.copy())[0])


def test_embedding_figure_colours_points_by_true_class(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    labels = rng.integers(0, 3, 60)
    embeddings = rng.normal(size=(60, 8)) + labels[:, None] * 2.0
    fig = embedding_figure(embeddings, [CLASSES[k] for k in labels], CLASSES)
    (ax,) = fig.axes
    assert [t.get_text() for t in ax.get_legend().get_texts()] == CLASSES
    assert sum(len(c.get_offsets()) for c in ax.collections) == 60
    assert "PC 1" in ax.get_xlabel()
    _saves_png(fig, tmp_path / "embedding.png")


def test_embedding_figure_supports_tsne_and_rejects_unknown_methods() -> None:
    rng = np.random.default_rng(2)
    embeddings, labels = rng.normal(size=(24, 4)), np.arange(24) % 3
    fig = embedding_figure(embeddings, labels, CLASSES, method="tsne")
    assert sum(len(c.get_offsets()) for c in fig.axes[0].collections) == 24
    with pytest.raises(ValueError, match="umap"):
        embedding_figure(embeddings, labels, CLASSES, method="umap")


def test_comparison_table_lines_up_runs_and_flattens_aggregates() -> None:
    runs = [
        {"name": "plain prompts", "test/accuracy_mean": 0.80, "test/accuracy_std": 0.05},
        {
            "name": "augmented prompts",
            "test/accuracy_mean": 0.90,
            "test/accuracy_std": 0.02,
            "per_class_recall_mean": {"anger": 0.7},
            "confusion": [[1, 0], [0, 1]],
        },
    ]
    table = comparison_table(runs)
    assert table.index.tolist() == ["plain prompts", "augmented prompts"]
    assert table.loc["augmented prompts", "per_class_recall_mean/anger"] == 0.7
    assert np.isnan(table.loc["plain prompts", "per_class_recall_mean/anger"])
    assert "confusion" not in table.columns
    only = comparison_table(runs, metrics=["test/accuracy_mean"])
    assert only.columns.tolist() == ["test/accuracy_mean"]
    with pytest.raises(ValueError, match="two runs"):
        comparison_table([runs[0], runs[0]])


def test_mean_and_std_columns_merge_into_report_text() -> None:
    table = comparison_table(
        [{"name": "a", "test/accuracy_mean": 0.9, "test/accuracy_std": 0.05, "epochs": 10}]
    )
    text = format_mean_std(table, digits=1, scale=100)
    assert text.columns.tolist() == ["test/accuracy", "epochs"]
    assert text.loc["a", "test/accuracy"] == f"{90:.1f} ± {5:.1f}"


def test_reliability_figure_draws_before_and_after_per_evaluation(tmp_path: Path) -> None:
    from facevlm.evaluation.calibration import reliability_bins, softmax

    rng = np.random.default_rng(0)
    logits = 4.0 * rng.normal(size=(200, 3))
    labels = (softmax(logits, 4.0).cumsum(1) > rng.random((200, 1))).argmax(1)
    before, after = (
        reliability_bins(softmax(logits), labels),
        reliability_bins(softmax(logits, 4.0), labels),
    )
    fig = reliability_figure({"primary": (before, after), "zero_shot": (before, after)})
    assert [ax.get_title() for ax in fig.axes] == ["primary (n = 200)", "zero_shot (n = 200)"]
    legend = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert f"uncalibrated (ECE {before.ece:.3f})" in legend
    assert f"temperature-scaled (ECE {after.ece:.3f})" in legend
    _saves_png(fig, tmp_path / "reliability.png")
    # a run without logits still gets its file
    _saves_png(reliability_figure({}), tmp_path / "none.png")
