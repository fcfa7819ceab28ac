"""Faces from ICT-FaceKit: a second face source, measured on real people rather than made by us.

Why a second source: every face of the built-in generator (:mod:`facevlm.synthetic.procedural`)
shares that generator's habits, and a model trained and tested on it can learn the habits
instead of the expressions. ICT-FaceKit (USC Institute for Creative Technologies, MIT licence:
``assets/ICT-FaceKit-LICENSE.txt``) is a morphable model built from light-stage scans of real
people: a face is

    neutral + sum_k a_k * identity_k + sum_j w_j * expression_j

with identity weights drawn from a standard normal (as the upstream scripts do) and expression
weights on ARKit-named blend shapes, which we drive from each emotion's FACS prototype.

The packed asset (``assets/ict_facekit_compact.npz``, 4.5 MB, made by :func:`derive_compact`
from the upstream ``ict_facekit_light.npz``) keeps what a face scanner sees: the face, head and
neck (upstream vertices 0-11247) and the eyeballs (21451-24590, so that the eyes are not holes);
the first 40 identity modes (the later ones move the surface by less than half a millimetre); the
39 expression shapes that facial action units need (no gaze, pupil or sideways jaw shapes), as
float16 offsets (0.01 mm steps at the largest offsets); and the texture coordinates of the kept
polygons, repacked into one square atlas (:data:`ATLAS_RECTS`). Units: millimetres after
:meth:`IctFaceModel.shape` (upstream centimetres), y up, the face looking along +z, as every
scan here.

A face is painted either per vertex (:func:`paint_vertex_colours`) or as a texture atlas
(:func:`paint_texture_atlas`) that a mesh with face-varying UVs (:meth:`IctFaceModel.mesh` with
``textured=True``) samples, so that an ICT face can be written exactly like a procedural one:
a VRML or OBJ mesh beside its texture image. Both paint the same face: one function paints
3D points with their normals, and the atlas is painted at the 3D point under each texel.

The package, one job a module:

- :mod:`.model`     the packed model: load, shape, mesh of a region, the asset's parts
- :mod:`.emotions`  each emotion's blend-shape prototype and a subject's weights for it
- :mod:`.paint`     the painted face, per vertex or as a texture atlas
- :mod:`.asset`     how the packed asset was derived from the upstream files
- :mod:`.head`      one subject's face as the dataset writers ask for it (:class:`~.head.IctHead`)
- :mod:`.template`  the face pose's template, built from the model's mean face
"""

from facevlm.synthetic.ict_facekit.asset import ATLAS_RECTS, derive_compact
from facevlm.synthetic.ict_facekit.emotions import (
    EMOTION_SHAPES,
    INTENSITY_SCALE,
    emotion_expression,
)
from facevlm.synthetic.ict_facekit.model import (
    ASSET,
    FULL_FACE_END,
    HEAD_END,
    MM_PER_UNIT,
    N_IDENTITY_MODES,
    NARROW_FACE_END,
    REGIONS,
    IctFaceModel,
    quad_triangles,
    random_identity,
    region_mask,
)
from facevlm.synthetic.ict_facekit.paint import paint_texture_atlas, paint_vertex_colours

__all__ = [
    "ASSET",
    "ATLAS_RECTS",
    "EMOTION_SHAPES",
    "FULL_FACE_END",
    "HEAD_END",
    "INTENSITY_SCALE",
    "MM_PER_UNIT",
    "NARROW_FACE_END",
    "N_IDENTITY_MODES",
    "REGIONS",
    "IctFaceModel",
    "derive_compact",
    "emotion_expression",
    "paint_texture_atlas",
    "paint_vertex_colours",
    "quad_triangles",
    "random_identity",
    "region_mask",
]
