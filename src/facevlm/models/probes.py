"""Evaluation probes on frozen embeddings: linear probe and k-nearest neighbours.

SMILE-VLM is evaluated by a linear probe on frozen embeddings under subject-independent folds
(methods.md); k-NN is the cheap, hyper-parameter-light companion (as in DINO). Both take the
features of one fold's train and test split and return test predictions, so the evaluation code
owns the folds and the metrics. Deterministic: same inputs and seed, same predictions.
"""

from __future__ import annotations

import numpy as np
import torch
from numpy.typing import ArrayLike
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler


def _as_numpy(x: ArrayLike | torch.Tensor, dtype: type = np.float64) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu().numpy()
    return np.asarray(x, dtype=dtype)


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
    """Multinomial logistic regression on frozen features; returns (n_test,) int64 predictions.

    Args:
        train_x, test_x: (n, D) features. train_y: (n_train,) labels in ``[0, n_classes)``.
        C: inverse L2 strength (sklearn). Sweep it on a validation split, never on the test fold.
        standardize: z-score features with the *train* statistics first (lbfgs converges far
            better on standardised features; the test split never informs the scaler).
    """
    x_train, x_test = _as_numpy(train_x), _as_numpy(test_x)  # (n_train, D), (n_test, D)
    y_train = _as_numpy(train_y, np.int64)  # (n_train,)
    if y_train.size and (y_train.min() < 0 or y_train.max() >= n_classes):
        raise ValueError(f"train labels must lie in [0, {n_classes}), got {np.unique(y_train)}")
    classes = np.unique(y_train)
    if classes.size == 1:  # a fold whose train split holds a single class: nothing to fit
        return np.full(x_test.shape[0], classes[0], dtype=np.int64)
    if standardize:
        scaler = StandardScaler().fit(x_train)
        x_train, x_test = scaler.transform(x_train), scaler.transform(x_test)
    clf = LogisticRegression(C=C, max_iter=max_iter, random_state=seed)
    clf.fit(x_train, y_train)
    return clf.predict(x_test).astype(np.int64)


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
