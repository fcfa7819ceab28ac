"""The Face Landmarker reads our renders as it reads photographs: 51 scores that name what the
face does, from a model file that ships in the package (no download)."""

from __future__ import annotations

import numpy as np

from facevlm.face_reader.landmarker import BLENDSHAPE_NAMES, FaceLandmarker, model_path
from facevlm.face_reader.reading import average_views


def _score(scores: np.ndarray, *names: str) -> float:
    return float(np.mean([scores[BLENDSHAPE_NAMES.index(n)] for n in names]))


def test_the_model_file_ships_in_the_package_with_its_licence():
    path = model_path()
    assert path.stat().st_size > 1_000_000
    assert path.with_name(path.name + ".LICENSE").read_text().count("Apache License") >= 1


def test_every_view_of_a_rendered_face_is_read_as_51_scores(rendered_faces):
    with FaceLandmarker() as landmarker:
        scores = landmarker.read_images(rendered_faces[1]["happiness"])
    assert scores.shape == (3, len(BLENDSHAPE_NAMES))
    assert np.isfinite(scores).all()
    assert ((scores >= 0) & (scores <= 1)).all()


def test_a_smile_and_a_surprise_move_the_actions_that_name_them(rendered_faces):
    with FaceLandmarker() as landmarker:
        for faces in rendered_faces.values():
            read = {e: average_views(landmarker.read_images(v)[None])[0] for e, v in faces.items()}
            smile = ("mouthSmileLeft", "mouthSmileRight")
            assert _score(read["happiness"], *smile) > _score(read["neutral"], *smile) + 0.1
            assert _score(read["surprise"], "jawOpen") > _score(read["neutral"], "jawOpen") + 0.1


def test_an_image_without_a_face_gives_no_scores():
    rng = np.random.default_rng(0)
    noise = rng.integers(0, 256, size=(160, 160, 3), dtype=np.uint8)
    with FaceLandmarker() as landmarker:
        assert landmarker.blendshapes(np.zeros((160, 160, 3), np.uint8)) is None
        assert landmarker.blendshapes(noise) is None
        table = landmarker.read_images([noise])
    assert table.shape == (1, len(BLENDSHAPE_NAMES)) and np.isnan(table).all()


def test_views_where_no_face_was_found_are_left_out_of_the_mean():
    found = np.full((1, 2, len(BLENDSHAPE_NAMES)), 0.5)
    found[0, 1] = np.nan
    assert np.allclose(average_views(found), 0.5)
    assert np.isnan(average_views(np.full((1, 2, len(BLENDSHAPE_NAMES)), np.nan))).all()


def test_samples_that_are_no_still_face_are_not_read(rendered_faces):
    """A sequence's motion map or dynamic image is no face: its row says none was found."""
    import pandas as pd

    from facevlm.face_reader.reading import read_face_actions

    faces = rendered_faces[1]
    views = np.stack([faces["happiness"], faces["surprise"]])
    samples = pd.DataFrame(
        {"sample_id": ["a", "b"], "subject": ["S1", "S1"], "expression": ["happiness", "surprise"]}
    )
    table = read_face_actions(views, samples, read=(0, 1, 2), still=[True, False])
    assert table["found"].tolist() == [True, False]
    assert np.isnan(table[list(BLENDSHAPE_NAMES)].to_numpy()[1]).all()
