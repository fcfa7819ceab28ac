"""Evaluation probes on frozen embeddings: linear probe and k-nearest neighbours.

SMILE-VLM is evaluated by a linear probe on frozen embeddings under subject-independent folds
(docs/methods.md); k-NN is the cheap, hyper-parameter-light companion (as in DINO). Both take the
features of one fold's train and test split and return test predictions, so the evaluation code
owns the folds and the metrics. Deterministic: same inputs and seed, same predictions.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from numpy.typing import ArrayLike
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler


def _as_numpy(x: ArrayLike | torch.Tensor, dtype: type = np.float64) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu().numpy()
    return np.asarray(x, dtype=dtype)


@dataclass
class LinearProbe:
    """A fitted probe: standardise with the training statistics, then one linear layer.

    ``decision(x) = ((x - mean) / scale) @ weight.T + bias``; rows of ``weight`` are the class
    indices in ``classes`` (those present in the training data).
    """

    mean: np.ndarray  # (D,)
    scale: np.ndarray  # (D,)
    weight: np.ndarray  # (n_fitted_classes, D), on standardised features
    bias: np.ndarray  # (n_fitted_classes,)
    classes: np.ndarray  # (n_fitted_classes,) the class index each row predicts

    def decision(self, x: ArrayLike | torch.Tensor) -> np.ndarray:
        """(n, n_fitted_classes) scores; a single fitted class scores 0 everywhere."""
        return ((_as_numpy(x) - self.mean) / self.scale) @ self.weight.T + self.bias

    def predict(self, x: ArrayLike | torch.Tensor) -> np.ndarray:
        return self.classes[self.decision(x).argmax(axis=1)].astype(np.int64)

    def logits(self, x: ArrayLike | torch.Tensor, n_classes: int) -> np.ndarray:
        """(n, n_classes) scores in class-index columns (their softmax is the probe's
        probability); ``-inf`` for a class absent from the training data, which it never
        predicts. Held-out logits calibrate the probe's probabilities."""
        out = np.full((len(_as_numpy(x)), n_classes), -np.inf)
        out[:, self.classes] = self.decision(x)
        return out

    def as_tensors(self, n_classes: int) -> dict[str, torch.Tensor]:
        """The probe as plain float tensors with one row per class index ``0..n_classes-1``
        (a model bundle's ``linear_probe``); a class absent from the training data gets a row
        that never wins (bias -1e4)."""
        weight = torch.zeros(n_classes, self.weight.shape[1])
        bias = torch.full((n_classes,), -1e4)
        rows = torch.as_tensor(self.classes, dtype=torch.long)
        weight[rows] = torch.as_tensor(self.weight, dtype=torch.float32)
        bias[rows] = torch.as_tensor(self.bias, dtype=torch.float32)
        return {
            "weight": weight,
            "bias": bias,
            "mean": torch.as_tensor(self.mean, dtype=torch.float32),
            "scale": torch.as_tensor(self.scale, dtype=torch.float32),
        }


def fit_linear_probe(
    train_x: ArrayLike | torch.Tensor,
    train_y: ArrayLike | torch.Tensor,
    seed: int = 0,
    C: float = 1.0,
    max_iter: int = 1000,
    standardize: bool = True,
) -> LinearProbe:
    """Multinomial logistic regression on frozen features (z-scored with the *train* statistics
    first when ``standardize``: lbfgs converges far better on standardised features).

    Args:
        train_x: (n, D) features. train_y: (n,) class indices.
        C: inverse L2 strength (sklearn). Sweep it on a validation split, never on the test fold.
    """
    x_train = _as_numpy(train_x)  # (n_train, D)
    y_train = _as_numpy(train_y, np.int64)  # (n_train,)
    classes = np.unique(y_train)
    d = x_train.shape[1]
    mean, scale = np.zeros(d), np.ones(d)
    if classes.size == 1:  # a train split holding a single class: nothing to fit
        return LinearProbe(mean, scale, np.zeros((1, d)), np.zeros(1), classes)
    if standardize:
        scaler = StandardScaler().fit(x_train)
        mean, scale = scaler.mean_, scaler.scale_
    clf = LogisticRegression(C=C, max_iter=max_iter, random_state=seed)
    clf.fit((x_train - mean) / scale, y_train)
    weight, bias = clf.coef_, clf.intercept_
    if classes.size == 2:  # sklearn's one binary row w: class 1 wins when x.w + b > 0
        weight, bias = np.vstack([-weight[0], weight[0]]) / 2, np.array([-bias[0], bias[0]]) / 2
    return LinearProbe(mean, scale, weight, bias, clf.classes_.astype(np.int64))


def linear_probe(
    train_x: ArrayLike | torch.Tensor,
    train_y: ArrayLike | torch.Tensor,
    test_x: ArrayLike | torch.Tensor,
    n_classes: int,
    seed: int = 0,
    C: float = 1.0,
    max_iter: int = 1000,
    standardize: bool = True,
) -> np.ndarray:
    """Fit :func:`fit_linear_probe` on one fold's train split; (n_test,) int64 predictions.

    ``train_y`` must lie in ``[0, n_classes)``; the test split never informs the scaler.
    """
    y_train = _as_numpy(train_y, np.int64)
    if y_train.size and (y_train.min() < 0 or y_train.max() >= n_classes):
        raise ValueError(f"train labels must lie in [0, {n_classes}), got {np.unique(y_train)}")
    probe = fit_linear_probe(train_x, y_train, seed, C, max_iter, standardize)
    return probe.predict(test_x)


def knn_predict(
    train_x: ArrayLike | torch.Tensor,
    train_y: ArrayLike | torch.Tensor,
    test_x: ArrayLike | torch.Tensor,
    k: int = 20,
    cosine: bool = True,
) -> np.ndarray:
    """Majority vote of the ``k`` nearest training samples; returns (n_test,) predictions.

    ``cosine``: rank by cosine similarity (the geometry the VLM embeddings are trained in);
    otherwise by Euclidean distance. Ties between classes with equal votes go to the class whose
    nearest member is closest, so the result is deterministic (no floating-point tie breaks).
    """
    x_train, x_test = _as_numpy(train_x), _as_numpy(test_x)  # (n_train, D), (n_test, D)
    classes, y_train = np.unique(_as_numpy(train_y, np.int64), return_inverse=True)
    k = min(k, x_train.shape[0])
    if cosine:
        x_train = x_train / np.linalg.norm(x_train, axis=1, keepdims=True).clip(min=1e-12)
        x_test = x_test / np.linalg.norm(x_test, axis=1, keepdims=True).clip(min=1e-12)
        closeness = x_test @ x_train.T  # (n_test, n_train)
    else:
        closeness = -(
            (x_test**2).sum(1)[:, None] + (x_train**2).sum(1)[None, :] - 2 * x_test @ x_train.T
        )
    nearest = np.argsort(-closeness, axis=1, kind="stable")[:, :k]  # (n_test, k), nearest first
    onehot = y_train[nearest][..., None] == np.arange(classes.size)  # (n_test, k, n_classes)
    votes = onehot.sum(axis=1)  # (n_test, n_classes)
    # k - rank of each class's nearest neighbour (0 when absent): always < k + 1, so it only
    # separates classes with equal votes.
    nearest_rank_bonus = (onehot * np.arange(k, 0, -1)[None, :, None]).max(axis=1)
    return classes[(votes * (k + 1) + nearest_rank_bonus).argmax(axis=1)].astype(np.int64)
