"""A bank of real people's facial expressions: labelled photos read by MediaPipe's Face
Landmarker and FACS-coded expressions, as rows of ARKit-named blend-shape weights (the 51 the
landmarker scores: ARKit's 52 but ``tongueOut``) with their emotion, subject and source.

Why: the built-in synthetic faces pose each emotion from one hand-written prototype, while real
people make an emotion in several ways (which units, how strongly, how asymmetric). The bank
holds how real people made them, in the blend-shape names the ICT-FaceKit faces are posed by, so
that the synthetic set, a reader of expressions or a researcher can use them alike. ``kedro run
--pipeline=expression_bank`` builds it (docs/expression-bank.md).

Free of Kedro and torch: it reads files and numbers. The package, one job a module:

- :mod:`.facs`         FACS notation, the FACS to ARKit mapping, intensities drawn where codes
  give none
- :mod:`.emotions`     emotion labels as sets spell them, onto the project's names
- :mod:`.photos`       photo sets (a folder per emotion, or a labels CSV) through the landmarker
- :mod:`.facs_tables`  FACS-coded tables (NetFACS' CK+ codes ship in ``data/``)
- :mod:`.bank`         the bank's table and the report of inputs left out
- :mod:`.config`       ``params:expression_bank`` as typed settings
"""
