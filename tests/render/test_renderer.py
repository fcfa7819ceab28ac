"""The multiview renderer: real offscreen renders checked for content, geometry and hygiene."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from PIL import Image

from facevlm.render.fixtures import face_like_mesh
from facevlm.render.renderer import MultiviewRenderer, RenderSettings
from facevlm.scans.errors import ScanError
from facevlm.scans.mesh import FaceMesh


def _diff(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a.astype(np.int16) - b.astype(np.int16)).mean())


def _coloured(mesh: FaceMesh) -> FaceMesh:
    """The same geometry with per-vertex colours and no UVs."""
    colours = (np.abs(mesh.vertices) * [2.0, 1.0, 3.0] % 256).astype(np.uint8)
    return FaceMesh.from_triangles(mesh.vertices, mesh.triangles(), vertex_colors=colours)


@pytest.mark.parametrize("modality", ["texture", "shaded", "depth"])
def test_renders_have_the_requested_shape_and_content(make_renderer, face, texture, modality):
    renderer = make_renderer(modality=modality)
    size = renderer.settings.size
    images = renderer.render(face, texture)
    assert images.shape == (3, size, size, 3) and images.dtype == np.uint8
    for image in images:
        assert image.std() > 20, "a view is blank or nearly uniform"
        assert image[size // 2, size // 2].any(), "the face is not at the centre"


@pytest.mark.parametrize("modality", ["texture", "shaded", "depth"])
def test_each_view_shows_something_different(make_renderer, face, texture, modality):
    front, left, right = make_renderer(modality=modality).render(face, texture)
    assert _diff(front, left) > 3 and _diff(front, right) > 3 and _diff(left, right) > 3


@pytest.mark.parametrize("modality", ["shaded", "depth"])
def test_different_shapes_give_different_geometry_renders(
    make_renderer, face, other_face, modality
):
    renderer = make_renderer(modality=modality)
    assert _diff(renderer.render(face)[0], renderer.render(other_face)[0]) > 1


def test_modalities_give_different_images(make_renderer, face, texture):
    renders = {
        m: make_renderer(modality=m).render(face, texture)[0]
        for m in ("texture", "shaded", "depth")
    }
    assert _diff(renders["texture"], renders["shaded"]) > 10
    assert _diff(renders["texture"], renders["depth"]) > 10
    assert _diff(renders["shaded"], renders["depth"]) > 10
    shaded, depth = renders["shaded"], renders["depth"]
    assert (shaded[..., 0] == shaded[..., 1]).all() and (depth[..., 0] == depth[..., 2]).all()


def test_depth_background_is_black_and_the_nose_is_nearest(make_renderer, face):
    renderer = make_renderer(modality="depth", background=(255, 255, 255))
    front = renderer.render(face)[0, ..., 0]
    assert front[0, 0] == 0 and front[-1, -1] == 0, "depth background must be black"
    foreground = front > 0
    assert 0.2 < foreground.mean() < 0.9
    row, col = np.unravel_index(np.argmax(front), front.shape)
    size = renderer.settings.size
    assert abs(row - size / 2) < 0.1 * size and abs(col - size / 2) < 0.1 * size
    assert front.max() > np.median(front[foreground]) + 20


def test_positive_yaw_turns_the_nose_toward_the_image_left(make_renderer, face):
    front, plus, minus = make_renderer(modality="depth").render(face)[..., 0]
    nose_column = [np.unravel_index(np.argmax(v), v.shape)[1] for v in (front, plus, minus)]
    assert nose_column[1] < nose_column[0] < nose_column[2]


def test_texture_background_colour_is_used(make_renderer, face, texture):
    image = make_renderer(background=(10, 200, 30)).render(face, texture)[0]
    assert image[0, 0].tolist() == [10, 200, 30]


def test_vrml_uv_origin_is_bottom_left():
    """A quad with UV (0, 0) at its bottom-left corner shows the image's top-left at its top-left."""
    quad = FaceMesh.from_polygons(
        [[-1, -1, 0], [1, -1, 0], [1, 1, 0], [-1, 1, 0]],
        [[0, 1, 2, 3]],
        uv=[[0, 0], [1, 0], [1, 1], [0, 1]],
    )
    texture = np.zeros((64, 64, 3), np.uint8)
    texture[:32, :32] = [255, 0, 0]  # top-left red
    texture[:32, 32:] = [0, 255, 0]  # top-right green
    texture[32:, :32] = [0, 0, 255]  # bottom-left blue
    texture[32:, 32:] = [255, 255, 255]  # bottom-right white
    with MultiviewRenderer(RenderSettings(size=64, views=[[0, 0]])) as renderer:
        image = renderer.render(quad, texture)[0]
    near, far = 64 // 2 - 12, 64 // 2 + 12
    assert image[near, near].tolist() == [255, 0, 0]
    assert image[near, far].tolist() == [0, 255, 0]
    assert image[far, near].tolist() == [0, 0, 255]
    assert image[far, far].tolist() == [255, 255, 255]


@pytest.mark.parametrize("modality", ["texture", "shaded", "depth"])
def test_no_state_leaks_between_meshes(
    make_renderer, face, other_face, texture, other_texture, modality
):
    renderer = make_renderer(modality=modality)
    first = renderer.render(face, texture)
    between = renderer.render(_coloured(other_face), None)  # no UVs: vertex colours instead
    renderer.render(other_face, other_texture)
    again = renderer.render(face, texture)
    np.testing.assert_array_equal(first, again)
    assert _diff(first[0], between[0]) > 1
    with MultiviewRenderer(renderer.settings) as fresh:  # B after A == B on its own
        np.testing.assert_array_equal(fresh.render(_coloured(other_face)), between)


@pytest.mark.parametrize("modality", ["texture", "depth"])
def test_translated_and_scaled_copies_render_the_same(make_renderer, face, texture, modality):
    moved = dataclasses.replace(face, vertices=face.vertices * 0.01 + [3.0, -2.0, 150.0])
    renderer = make_renderer(modality=modality)
    original, copy = renderer.render(face, texture), renderer.render(moved, texture)
    differing = np.any(original != copy, axis=-1).mean()
    assert differing < 0.01, f"{differing:.2%} of pixels differ"


def test_texture_is_read_from_the_mesh_texture_path(make_renderer, face, texture, tmp_path):
    path = tmp_path / "F0001_NE00WH_F3D.bmp"
    Image.fromarray(texture).save(path)
    renderer = make_renderer()
    from_file = renderer.render(dataclasses.replace(face, texture_path=path))
    np.testing.assert_array_equal(from_file, renderer.render(face, texture))


def test_vertex_colours_are_rendered_when_there_are_no_uvs(make_renderer, face):
    image = make_renderer().render(_coloured(face))[0]
    assert image.std() > 20 and len(np.unique(image.reshape(-1, 3), axis=0)) > 50


def test_lit_texture_differs_from_unlit(make_renderer, face, texture):
    unlit = make_renderer().render(face, texture)[1]
    lit = make_renderer(lighting=True).render(face, texture)[1]
    assert _diff(lit, unlit) > 3


def test_unusable_scans_raise_scan_error_naming_the_file(make_renderer, face, tmp_path):
    renderer = make_renderer()
    with pytest.raises(ScanError, match="names no texture"):
        renderer.render(dataclasses.replace(face, source=tmp_path / "a.wrl"))
    missing = tmp_path / "missing.bmp"
    with pytest.raises(ScanError, match="missing.bmp"):
        renderer.render(dataclasses.replace(face, texture_path=missing))
    bare = FaceMesh.from_triangles(face.vertices, face.triangles(), source=tmp_path / "b.wrl")
    with pytest.raises(ScanError, match="b.wrl.*neither"):
        renderer.render(bare)
    broken = dataclasses.replace(face, vertices=np.full_like(face.vertices, np.nan))
    with pytest.raises(ScanError, match="NaN"):
        renderer.render(broken)
    with pytest.raises(ScanError, match="bad texture"):
        renderer.render(face, np.zeros((8, 8, 3), np.float32))


def test_geometry_modalities_need_no_texture(make_renderer, face):
    bare = FaceMesh.from_triangles(face.vertices, face.triangles())
    assert make_renderer(modality="shaded").render(bare).std() > 20


def test_a_closed_renderer_refuses_to_render(face, texture):
    renderer = MultiviewRenderer(RenderSettings(size=32))
    renderer.close()
    with pytest.raises(RuntimeError, match="closed"):
        renderer.render(face, texture)


def test_default_settings_follow_the_methods_document():
    settings = RenderSettings()
    assert settings.size == 224 and settings.modality == "texture"
    assert [v.yaw for v in settings.views] == [0, 20, -20]
    assert not settings.lit and RenderSettings(modality="shaded").lit


def test_settings_from_the_project_parameters():
    params = {
        "size": 224,
        "views": [[0, 0], [20, 0], [-20, 0]],
        "modality": "texture",
        "frames": "uniform:3",
        "n_workers": None,
        "datasets": None,
    }
    settings = RenderSettings.from_params(params, ignore=("frames", "n_workers", "datasets"))
    assert settings == RenderSettings()
    assert hash(settings) == hash(RenderSettings())
    with pytest.raises(ValueError, match="modalty"):
        RenderSettings.from_params({"modalty": "depth"})


@pytest.mark.parametrize(
    "bad",
    [
        {"modality": "normals"},
        {"size": 0},
        {"background": (0, 0, 300)},
        {"fill": 1.5},
        {"modality": "shaded", "lighting": False},
        {"views": []},
    ],
)
def test_bad_settings_are_refused(bad):
    with pytest.raises(ValueError):
        RenderSettings(**bad)


def test_the_contract_face_mesh_renders_at_the_default_size(face, texture):
    """The one 224 px render of the suite, through a fresh renderer, as a pipeline would do."""
    with MultiviewRenderer() as renderer:
        images = renderer.render(face_like_mesh(n_side=90), texture)
    assert images.shape == (3, 224, 224, 3) and images.std() > 20
