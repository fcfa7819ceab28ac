"""Photos of faces that the tests make themselves: ICT-FaceKit subjects of the built-in set,
posed by the synthetic set's emotion recipes and rendered frontally, written as a photo set
(one sub-folder per emotion) with the files a real set holds that are not faces.

No photo of a real person is used: those are research-licensed. A shaded frontal render is read
by the Face Landmarker as a photograph (:mod:`facevlm.face_reader.landmarker`).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from facevlm.render.renderer import MultiviewRenderer
from facevlm.render.settings import RenderSettings
from facevlm.render.views import View
from facevlm.scans.labels import NEUTRAL
from facevlm.synthetic.expressions import EMOTION_RECIPES
from facevlm.synthetic.ict_facekit.head import build_ict_head
from facevlm.synthetic.procedural.identity import sample_identity

#: The emotions photographed: a smile and an open-mouthed surprise are what the landmarker
#: reads most surely, against a resting face.
EMOTIONS = (NEUTRAL, "happiness", "surprise")
#: Subjects photographed, named as CK+ names its subjects.
SUBJECTS = ("S01", "S02")
SIZE = 192


def render_faces(activations: dict[str, dict], seed: int = 3) -> dict[str, np.ndarray]:
    """Frontal shaded ``(SIZE, SIZE, 3)`` renders of one ICT-FaceKit subject, one per named
    action-unit activation (AU -> weight or (image-left, image-right))."""
    rng = np.random.default_rng(seed)
    head = build_ict_head(sample_identity(rng, "F" if seed % 2 else "M"), rng, "face")
    settings = RenderSettings(size=SIZE, views=(View(0.0, 0.0),), modality="shaded")
    renderer = MultiviewRenderer(settings)
    try:
        return {
            name: renderer.render(head.with_vertices(head.mesh.vertices + head.displacement(a)))[0]
            for name, a in activations.items()
        }
    finally:
        renderer.close()


def emotion_activation(emotion: str) -> dict[int, float]:
    return {} if emotion == NEUTRAL else dict(EMOTION_RECIPES[emotion])


def write_face_photos(root: Path) -> dict[str, list[str]]:
    """A photo set under ``root``: ``<emotion>/<subject>_<emotion>.png`` for every subject and
    emotion, one face also as a grey-level JPEG (as FER2013 and JAFFE are), and what is not a
    face photo: a text file and a face-less image in emotion folders, a photo outside any emotion
    folder, a hidden file. Returns the items (paths under ``root``) of each kind.

    Takes about a second: two subjects built and six faces rendered."""
    items: dict[str, list[str]] = {
        "faces": [],
        "not_an_image": [],
        "damaged": [],
        "no_face": [],
        "stray": [],
    }
    for n, subject in enumerate(SUBJECTS):
        renders = render_faces({e: emotion_activation(e) for e in EMOTIONS}, seed=3 + n)
        for emotion, image in renders.items():
            item = f"{emotion}/{subject}_{emotion}.png"
            _save(root / item, image)
            items["faces"].append(item)
    grey = Image.open(root / f"happiness/{SUBJECTS[0]}_happiness.png").convert("L")
    grey_item = f"happiness/{SUBJECTS[0]}_happiness_grey.jpg"
    grey.save(root / grey_item, quality=90)
    items["faces"].append(grey_item)

    (root / "happiness" / "notes.txt").write_text("rater notes, not a photo\n")
    items["not_an_image"].append("happiness/notes.txt")
    (root / "surprise" / "truncated.png").write_bytes(
        (root / f"surprise/{SUBJECTS[0]}_surprise.png").read_bytes()[:200]
    )
    items["damaged"].append("surprise/truncated.png")
    wall = np.full((SIZE, SIZE, 3), 128, np.uint8)
    wall[::8] = 90  # a plain wall with stripes: an image, no face
    _save(root / "neutral" / "wall.png", wall)
    items["no_face"].append("neutral/wall.png")
    _save(root / "loose_photo.png", renders[NEUTRAL])
    items["stray"].append("loose_photo.png")
    (root / "neutral" / ".DS_Store").write_bytes(b"\0\1\2")
    return items


def _save(path: Path, image: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(image).save(path)
