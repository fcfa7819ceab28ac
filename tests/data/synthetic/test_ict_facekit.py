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
  the colours follow the vertices into every crop.
"""

from __future__ import annotations

import numpy as np
import pytest

from facevlm.data.labels import BASIC_EMOTIONS
from facevlm.data.synthetic.ict_facekit import (
    IctFaceModel,
    emotion_expression,
    paint_vertex_colours,
    random_identity,
)

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
