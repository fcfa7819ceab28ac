"""Views: the parameter forms people will write, stable names, and a sound camera frame."""

from __future__ import annotations

import numpy as np
import pytest

from facevlm.render.views import DEFAULT_VIEWS, View, parse_views


def test_default_views_are_frontal_and_plus_minus_20_degrees_yaw():
    assert [(v.yaw, v.pitch) for v in DEFAULT_VIEWS] == [(0, 0), (20, 0), (-20, 0)]
    assert parse_views(None) == DEFAULT_VIEWS


@pytest.mark.parametrize(
    "spec",
    [
        "0,20,-20",
        " 0, 20 ,-20 ",
        [[0, 0], [20, 0], [-20, 0]],
        [0, 20, -20],
        ["0:0", "20", "-20:0"],
        [{"yaw": 0}, {"yaw": 20, "pitch": 0}, View(-20)],
    ],
)
def test_every_parameter_form_parses_to_the_same_views(spec):
    assert parse_views(spec) == DEFAULT_VIEWS


def test_pitch_is_parsed_from_pairs_and_strings():
    assert parse_views([[10, -5]]) == (View(10, -5),)
    assert parse_views("10:-5") == (View(10, -5),)


def test_names_are_stable_and_signed():
    assert [v.name for v in DEFAULT_VIEWS] == ["yaw+0_pitch+0", "yaw+20_pitch+0", "yaw-20_pitch+0"]
    assert View(-0.0, -0.0).name == "yaw+0_pitch+0"  # no "-0" twin of the frontal view
    assert View(12.5, 10).name == "yaw+12.5_pitch+10"


@pytest.mark.parametrize("spec", ["", [], "0,0", "a,b", [[1, 2, 3]], "1:2:3", [[0, 95]]])
def test_bad_specs_are_refused(spec):
    with pytest.raises(ValueError):
        parse_views(spec)


@pytest.mark.parametrize("view", [View(0), View(20), View(-35, 15), View(170, -60)])
def test_camera_frame_is_orthonormal(view):
    direction, up = np.array(view.direction()), np.array(view.up())
    assert np.linalg.norm(direction) == pytest.approx(1.0)
    assert np.linalg.norm(up) == pytest.approx(1.0)
    assert direction @ up == pytest.approx(0.0, abs=1e-12)


def test_positive_yaw_puts_the_camera_on_the_plus_x_side():
    assert View(20).direction()[0] > 0
    assert View(0, 30).direction()[1] > 0  # positive pitch looks from above
