"""A subject's face whichever the source: its identity and neutral head (procedural or
ICT-FaceKit), its texture photographs (:class:`_Skin`), a mesh of it rounded as the files hold
it, and its record in the manifest.

Separate because every layout's writer makes its subject's face and skin the same way; only
what it captures and how it names the files differ.
"""

from __future__ import annotations

import numpy as np

from facevlm.synthetic.config import SyntheticConfig
from facevlm.synthetic.expressions import Activation
from facevlm.synthetic.files import rounded
from facevlm.synthetic.ict_facekit.head import IctHead, build_ict_head, relight_photo
from facevlm.synthetic.layout_writers.subjects import SubjectTask
from facevlm.synthetic.procedural.head import SyntheticHead, build_head
from facevlm.synthetic.procedural.identity import Identity, sample_identity
from facevlm.synthetic.procedural.photo_shading import bake_capture_light
from facevlm.synthetic.procedural.texture import paint_texture, relight

#: A subject's neutral face, from either face source.
Head = SyntheticHead | IctHead


def face_source(config: SyntheticConfig, task: SubjectTask) -> str:
    """Where subject ``task`` gets its face: the layout's subjects take
    :attr:`SyntheticConfig.face_sources` in turn, so every source is in every fold."""
    return config.face_sources[task.index % len(config.face_sources)]


def _subject_face(
    task: SubjectTask, config: SyntheticConfig, rng: np.random.Generator, resolution: int
) -> tuple[Identity, Head]:
    """The subject's metadata and neutral face. An ICT-FaceKit face keeps its own density
    (``resolution`` sets the procedural mesh's) and shows one of ``config.ict_regions``."""
    identity = sample_identity(rng, task.gender)
    if face_source(config, task) == "ict":
        region = config.ict_regions[int(rng.integers(len(config.ict_regions)))]
        return identity, build_ict_head(identity, rng, region)
    return identity, build_head(identity, resolution)


def _subject_record(task: SubjectTask, identity: Identity, head: Head) -> dict:
    record = {
        "subject": task.subject,
        "face_source": "ict" if isinstance(head, IctHead) else "procedural",
        **identity.metadata(),
        "identity_seed": identity.texture_seed,
        "n_vertices": head.mesh.n_vertices,
    }
    if isinstance(head, IctHead):
        record["ict"] = {
            "region": head.region,
            "identity_weights": [round(float(w), 4) for w in head.identity_weights],
        }
    return record


def _mesh(head: Head, vertices: np.ndarray):
    return rounded(head.with_vertices(vertices))


class _Skin:
    """A subject's texture photographs, whichever the face source.

    A capture session (a static scan, a 4D sequence) has its own light (:meth:`session`); each
    surface of the session is then photographed in it (:meth:`photo`): the folds and furrows of
    the expression shaded in, as in a real scanner's photograph.
    """

    def __init__(self, head: Head, identity: Identity, config: SyntheticConfig, size: int):
        self.head, self.identity, self.config, self.size = head, identity, config, size
        # a procedural face's skin is painted once; an ICT face's is repainted per expression
        self.atlas = None if isinstance(head, IctHead) else paint_texture(identity, size)

    def session(self, rng: np.random.Generator) -> object:
        """One session's light, drawn from ``rng``."""
        if self.atlas is not None:
            return _scan_texture(self.atlas, self.identity, self.config, rng)
        grey = self.config.grayscale_share > 0 and rng.random() < self.config.grayscale_share
        return int(rng.integers(2**32)), bool(grey)

    def photo(self, session: object, surface: np.ndarray, activation: Activation) -> np.ndarray:
        """The photograph of ``surface`` (the face showing ``activation``) in ``session``
        (None: in the light of the paint itself)."""
        if self.atlas is not None:
            texture = self.atlas if session is None else session
            return _photograph(texture, self.head, surface, self.config)
        image = self.head.texture(self.size, activation if self.config.photo_shading > 0 else None)
        if session is None:
            return image
        seed, grey = session
        return relight_photo(image, np.random.default_rng(seed), self.config.lighting, grey)


def _scan_texture(
    atlas: np.ndarray, identity: Identity, config: SyntheticConfig, rng: np.random.Generator
) -> np.ndarray:
    """This scan's photograph of the subject's skin (:func:`relight`)."""
    grey = config.grayscale_share > 0 and rng.random() < config.grayscale_share
    return relight(atlas, identity, rng, config.lighting, grayscale=grey)


def _photograph(
    texture: np.ndarray, head: SyntheticHead, vertices: np.ndarray, config: SyntheticConfig
) -> np.ndarray:
    """``texture`` with the folds and furrows of this capture's face shaded in
    (:func:`bake_capture_light`): what the scanner's camera saw."""
    return bake_capture_light(texture, head, vertices, config.photo_shading)
