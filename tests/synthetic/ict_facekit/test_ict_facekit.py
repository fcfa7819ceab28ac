"""ICT-FaceKit faces, the second face source: real-people geometry in the project's units and axes,
emotions that move the face the way their FACS prototypes say.

Specification:

- the packed model gives faces in millimetres, y up, looking along +z, about as wide as a human
  face (130-180 mm ear to ear), and identity weights change the face;
- the three crops nest (narrow face < face < head) and are valid meshes;
- each emotion moves the landmarks its prototype names: a smile lifts the mouth corners, sadness
  lowers them, surprise raises the brows and opens the mouth, anger lowers the inner brows, fear
  raises the brows and stretches the mouth, disgust lifts the upper lip; a higher intensity moves
  the face further; neutral moves nothing;
- two subjects pose the same emotion differently;
- a painted face has skin, redder lips, darker brows and white eyeballs, lit from the front, and
  the colours follow the vertices into every crop;
- the packed atlas's UVs lie in the unit square and every kept polygon names valid ones, each
  surface on texels of its own;
- a textured crop has face-varying UVs split into triangles exactly like its positions, and
  keeps them through the BU-3DFE VRML and the OBJ writers and readers;
- the texture atlas is the same painted face, per texel: sampled at each vertex's UV it gives
  that vertex's colour, lips redder than the cheeks and brows darker than the forehead, no
  black texels for a seam to bleed, and the same image for the same seed.
"""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from facevlm.scans.formats import read_obj, read_vrml, write_obj, write_vrml
from facevlm.scans.labels import BASIC_EMOTIONS
from facevlm.synthetic.ict_facekit import (
    ATLAS_RECTS,
    HEAD_END,
    IctFaceModel,
    emotion_expression,
    paint_texture_atlas,
    paint_vertex_colours,
    quad_triangles,
    random_identity,
    region_mask,
)
from facevlm.synthetic.raster import sample_texture

# iBUG 68-point landmark numbers
INNER_BROWS = [21, 22]
BROWS = [17, 18, 19, 20, 21, 22, 23, 24, 25, 26]
MOUTH_CORNERS = [48, 54]
UPPER_LIP = 51
LOWER_LIP = 57
CHIN = 8


@pytest.fixture(scope="module")
def model() -> IctFaceModel:
    return IctFaceModel.load()


def landmarks(model: IctFaceModel, identity, expression) -> np.ndarray:
    return model.shape(identity, expression)[model.landmarks]


def test_faces_come_in_millimetres_upright_and_looking_along_z(model):
    face = model.mesh(model.shape(), region="face").vertices
    width = face[:, 0].max() - face[:, 0].min()
    assert 130 < width < 260, f"ear to ear {width:.0f} mm"
    points = model.shape()[model.landmarks]
    assert points[27, 1] > points[CHIN, 1] + 60, "the nose bridge is well above the chin"
    nose_tip = points[30]
    assert nose_tip[2] > points[[36, 45], 2].max() + 10, "the nose points toward +z"
    other = model.shape(random_identity(np.random.default_rng(1)))
    assert np.abs(other - model.shape()).max() > 2.0, "identity weights change the face"


def test_the_crops_nest_and_are_valid_meshes(model):
    vertices = model.shape(random_identity(np.random.default_rng(0)))
    sizes = []
    for region in ("narrow_face", "face", "head"):
        mesh = model.mesh(vertices, region=region)
        mesh.validate()
        sizes.append(mesh.n_vertices)
    assert sizes[0] < sizes[1] < sizes[2]
    with pytest.raises(ValueError, match="region"):
        model.mesh(vertices, region="torso")


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_each_emotion_moves_the_landmarks_its_prototype_names(model, seed):
    rng = np.random.default_rng(seed)
    identity = random_identity(rng)
    rest = landmarks(model, identity, {})
    moved = {
        emotion: landmarks(model, identity, emotion_expression(emotion, 4, rng)) - rest
        for emotion in BASIC_EMOTIONS
    }
    mouth_opening = {e: d[LOWER_LIP, 1] - d[UPPER_LIP, 1] for e, d in moved.items()}
    corners_y = {e: d[MOUTH_CORNERS, 1].mean() for e, d in moved.items()}
    corners_apart = {e: d[54, 0] - d[48, 0] for e, d in moved.items()}
    brows_y = {e: d[BROWS, 1].mean() for e, d in moved.items()}

    assert corners_y["happiness"] > 1.0, "a smile lifts the mouth corners"
    assert corners_y["sadness"] < -0.5, "sadness lowers the mouth corners"
    assert brows_y["surprise"] > 1.5 and mouth_opening["surprise"] < -3.0
    assert moved["anger"][INNER_BROWS, 1].mean() < -1.0, "anger lowers the inner brows"
    assert brows_y["fear"] > 1.0 and corners_apart["fear"] > 1.0
    assert moved["disgust"][UPPER_LIP, 1] > 1.0, "disgust lifts the upper lip"


def test_a_higher_intensity_moves_the_face_further_and_neutral_not_at_all(model):
    assert emotion_expression("neutral", 0, np.random.default_rng(0)) == {}
    rest = model.shape()
    for emotion in BASIC_EMOTIONS:
        distances = [
            np.abs(
                model.shape(None, emotion_expression(emotion, level, np.random.default_rng(3)))
                - rest
            ).max()
            for level in (1, 2, 3, 4)
        ]
        assert distances == sorted(distances) and distances[0] > 0, (emotion, distances)


def test_two_subjects_pose_an_emotion_differently(model):
    first = emotion_expression("happiness", 4, np.random.default_rng(10))
    second = emotion_expression("happiness", 4, np.random.default_rng(11))
    assert first != second
    with pytest.raises(ValueError, match="unknown ICT-FaceKit expression shape"):
        model.shape(None, {"smile": 1.0})


def test_a_painted_face_has_red_lips_dark_brows_and_white_eyes_lit_from_the_front(model):
    rng = np.random.default_rng(4)
    vertices = model.shape(random_identity(rng))
    colours = paint_vertex_colours(model, vertices, rng).astype(float)
    assert colours.shape == vertices.shape
    marks = model.landmarks
    cheek = colours[marks[[2, 14]]].mean(axis=0)  # jaw-line landmarks, plain skin
    lips = colours[marks[[51, 57]]].mean(axis=0)
    assert lips[0] / lips[1] > cheek[0] / cheek[1] * 1.15, "lips are redder than the skin"
    bridge = colours[marks[28]].sum()  # the nose bridge: skin, lit like the brows
    assert colours[marks[[19, 24]]].sum(axis=1).max() < bridge * 0.7, "brows are darker"
    assert colours[marks[27]].sum() > bridge * 0.8, "the skin between the brows is not brow"
    eyeballs = slice(len(model.neutral) - 3140, None)
    depth = vertices[eyeballs, 2].max() - vertices[eyeballs, 2]
    sclera = (depth > 4.0) & (depth < 8.0)  # round the iris, where the lids open
    iris = depth < 1.0
    assert np.median(colours[eyeballs][sclera].sum(axis=1)) > 450, "the eye whites are white"
    assert np.median(colours[eyeballs][iris].sum(axis=1)) < 300, "the iris is dark"
    # lit from the front: the nose tip is brighter than the side of the face under the ear
    assert colours[marks[30]].sum() > colours[marks[0]].sum()
    mesh = model.mesh(vertices, "narrow_face", vertex_colours=colours.astype(np.uint8))
    mesh.validate()
    assert mesh.vertex_colors.shape == (mesh.n_vertices, 3)
    np.testing.assert_array_equal(mesh.vertex_colors[0], colours[0].astype(np.uint8))


# ------------------------------------------------------------------ the texture atlas
@pytest.fixture(scope="module")
def smiling(model) -> np.ndarray:
    rng = np.random.default_rng(7)
    return model.shape(random_identity(rng), emotion_expression("happiness", 3, rng))


@pytest.fixture(scope="module")
def atlas(model, smiling) -> np.ndarray:
    return paint_texture_atlas(model, smiling, np.random.default_rng(5))


def vertex_uv(model: IctFaceModel, vertices: np.ndarray) -> np.ndarray:
    """One UV of each vertex (the first polygon corner that uses it)."""
    corners = np.argmax(model.polygons.ravel()[:, None] == vertices[None], axis=0)
    return model.uv[model.polygon_uv.ravel()[corners]]


def nearest_vertex(points: np.ndarray, target: np.ndarray) -> int:
    return int(np.argmin(np.linalg.norm(points[:HEAD_END] - target, axis=1)))


def test_the_packed_uvs_lie_in_the_unit_square_and_index_validly(model):
    assert model.uv.dtype == np.float32 and model.uv.shape[1] == 2
    assert model.uv.min() >= 0.0 and model.uv.max() <= 1.0
    assert model.polygon_uv.shape == model.polygons.shape
    assert model.polygon_uv.min() == 0 and model.polygon_uv.max() == len(model.uv) - 1
    # a triangle stored as a quad repeats its last UV as it repeats its last vertex
    triangle = model.polygons[:, 2] == model.polygons[:, 3]
    assert triangle.any()
    assert (model.polygon_uv[triangle, 2] == model.polygon_uv[triangle, 3]).all()
    # each surface has texels of its own: the first eyeball's outer shell stays in its square
    u0, v0, u1, v1 = ATLAS_RECTS["eye_px_outer"]
    eye = model.uv[model.polygon_uv[(model.polygons >= HEAD_END).all(axis=1)][:800]]
    assert (eye >= [u0, v0]).all() and (eye <= [u1, v1]).all()
    skin = model.uv[model.polygon_uv[(model.polygons < HEAD_END).all(axis=1)]]
    assert not ((skin > [u0, v0]) & (skin < [u1, v1])).all(axis=-1).any()


@pytest.mark.parametrize("region", ["narrow_face", "face", "head"])
def test_a_textured_crop_round_trips_through_vrml_and_obj_with_its_uvs(
    model, smiling, atlas, region, tmp_path
):
    mesh = model.mesh(smiling, region, textured=True)
    mesh.validate()
    plain = model.mesh(smiling, region)
    np.testing.assert_array_equal(mesh.triangles(), plain.triangles())
    assert mesh.uv_indices is not None and len(mesh.uv_indices) == len(mesh.polygon_indices)
    assert len(np.unique(mesh.uv_indices)) == len(mesh.uv), "only the UVs the crop uses"
    assert len(mesh.uv) > mesh.n_vertices, "seam vertices carry one UV per side"
    Image.fromarray(atlas).save(tmp_path / "face.bmp")
    Image.fromarray(atlas).save(tmp_path / "face.jpg")
    write_vrml(tmp_path / "face.wrl", mesh, texture_url="face.bmp")
    write_obj(tmp_path / "face.obj", mesh, texture_filename="face.jpg")
    for back, image in (
        (read_vrml(tmp_path / "face.wrl"), "face.bmp"),
        (read_obj(tmp_path / "face.obj"), "face.jpg"),
    ):
        np.testing.assert_array_equal(back.vertices, mesh.vertices)
        np.testing.assert_array_equal(back.polygon_indices, mesh.polygon_indices)
        np.testing.assert_array_equal(back.uv, mesh.uv)
        np.testing.assert_array_equal(back.uv_indices, mesh.uv_indices)
        assert back.texture_path == (tmp_path / image).resolve()


def test_the_atlas_paints_the_vertex_colours_face(model, smiling, atlas):
    colours = paint_vertex_colours(model, smiling, np.random.default_rng(5))
    mesh = model.mesh(smiling, "head", vertex_colours=colours, textured=True)
    # every polygon corner: the atlas at the corner's UV against its vertex's colour
    sampled = sample_texture(atlas, mesh.uv[mesh.uv_indices])
    expected = mesh.vertex_colors[mesh.polygon_indices].astype(float)
    difference = np.abs(sampled - expected).max(axis=1)
    assert np.median(difference) <= 3, "the same face, painted per texel"
    assert np.percentile(difference, 90) < 20, "edges of the lips and brows may differ a little"
    # moving a polygon's UVs to another polygon would paint it from elsewhere on the face
    shuffled = np.random.default_rng(0).permutation(mesh.n_polygons)
    corners = mesh.uv_indices.reshape(-1, 3)[shuffled].ravel()
    assert np.median(np.abs(sample_texture(atlas, mesh.uv[corners]) - expected).max(1)) > 10


def test_the_atlas_has_red_lips_and_dark_brows_at_the_landmarks_uvs(model, smiling, atlas):
    marks = smiling[model.landmarks]
    cheeks = [nearest_vertex(smiling, (marks[a] + marks[b]) / 2) for a, b in ((2, 31), (14, 35))]
    foreheads = [nearest_vertex(smiling, marks[k] + [0.0, 20.0, 0.0]) for k in (19, 24)]
    colour = {
        name: sample_texture(atlas, vertex_uv(model, np.asarray(points))).mean(axis=0)
        for name, points in (
            ("lips", model.landmarks[[51, 57]]),
            ("cheeks", cheeks),
            ("brows", model.landmarks[[19, 24]]),
            ("forehead", foreheads),
        )
    }
    redness = {name: c[0] / c[1] for name, c in colour.items()}
    assert redness["lips"] > redness["cheeks"] * 1.15, "lips are redder than the cheeks"
    assert colour["brows"].sum() < colour["forehead"].sum() * 0.7, "brows are darker"


def test_the_atlas_leaves_no_black_texels_and_is_deterministic(model, smiling, atlas):
    assert atlas.shape == (256, 256, 3) and atlas.dtype == np.uint8
    assert atlas.max(axis=2).min() > 10, "no black texel for a seam to bleed"
    np.testing.assert_array_equal(
        paint_texture_atlas(model, smiling, np.random.default_rng(5)), atlas
    )
    other = paint_texture_atlas(model, smiling, np.random.default_rng(6), size=128)
    assert other.shape == (128, 128, 3)
    assert not np.array_equal(other, atlas[::2, ::2])
    with pytest.raises(ValueError, match="atlas size"):
        paint_texture_atlas(model, smiling, np.random.default_rng(5), size=16)
    # the split of quads into triangles is the one every crop uses
    shown = region_mask(len(model.neutral), "head")[model.polygons].all(axis=1)
    assert len(quad_triangles(model.polygons[shown])) == model.mesh(smiling, "head").n_triangles
    assert shown.sum() < len(shown), "the eyeballs' inner shells are not part of a scan"
