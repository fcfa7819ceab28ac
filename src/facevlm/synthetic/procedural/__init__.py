"""The generator's own faces: parametric heads made from a seeded identity, no third-party model.

One of the synthetic set's two face sources (the other, faces measured on real people, is
:mod:`facevlm.synthetic.ict_facekit`). Everything a procedural subject looks like is drawn once
into its :class:`~.identity.Identity`; the mesh, its landmarks and its texture are then built
from it deterministically, on the *face sheet* (a flat plane of face millimetres) that all of
them share, so the painted features, the landmarks and the geometry agree.

Modules, in the order a face is made:

- :mod:`.identity`      who a subject is (metadata, proportions, colours), from a seeded RNG
- :mod:`.shapes`        feature outlines on the sheet, shared by mesh, texture and landmarks
- :mod:`.head_surface`  the face surface over the sheet (cylinder and relief)
- :mod:`.head`          the neutral face mesh (lips cut, eye openings, inner patches)
- :mod:`.landmarks`     the 83 BU-3DFE landmarks and Bosphorus' labelled ones, as mesh vertices
- :mod:`.texture`       the face-varying UV atlas and its image; :mod:`.painting` paints it
- :mod:`.photo_shading` the capture's light on the expression's folds, baked into the photograph
"""
