"""Normalisation: every face lands at the same place and size, whatever its units and offset."""

from __future__ import annotations

import numpy as np
import pytest

from facevlm.render.fixtures import face_like_mesh
from facevlm.render.normalize import fit_normalization


def normalize_points(points, vertices=None):
    """``points`` normalised with the transform fitted to ``vertices`` (default: themselves)."""
    return fit_normalization(points if vertices is None else vertices).apply(points)


def test_normalised_face_has_robust_radius_one_at_the_origin():
    vertices = face_like_mesh(n_side=30).vertices
    points = normalize_points(vertices)
    assert np.percentile(np.linalg.norm(points, axis=1), 99) == pytest.approx(1.0)
    low, high = np.percentile(points, [1, 99], axis=0)
    np.testing.assert_allclose((low + high) / 2, 0.0, atol=1e-12)


def test_shifted_and_scaled_copies_normalise_to_the_same_points():
    vertices = face_like_mesh(n_side=30).vertices
    copy = vertices * 3.7 + np.array([250.0, -40.0, 1000.0])
    np.testing.assert_allclose(normalize_points(copy), normalize_points(vertices), atol=1e-9)


def test_a_few_spikes_do_not_move_or_shrink_the_face():
    vertices = face_like_mesh(n_side=30).vertices
    spiky = vertices.copy()
    spiky[:5] = [5000.0, -5000.0, 9000.0]  # 5 of 900 vertices: scanner spikes
    clean, noisy = fit_normalization(vertices), fit_normalization(spiky)
    assert np.linalg.norm(noisy.centre - clean.centre) < 0.05 * clean.radius
    assert noisy.radius == pytest.approx(clean.radius, rel=0.1)


def test_fit_on_vertices_applies_to_other_points():
    vertices = face_like_mesh(n_side=30).vertices
    seam_copies = np.concatenate([vertices, vertices[:30]])
    np.testing.assert_allclose(
        normalize_points(seam_copies, vertices)[: len(vertices)], normalize_points(vertices)
    )


@pytest.mark.parametrize("vertices", [np.zeros((0, 3)), np.ones((10, 3)), np.ones((4, 2))])
def test_degenerate_input_is_refused(vertices):
    with pytest.raises(ValueError):
        fit_normalization(vertices)
