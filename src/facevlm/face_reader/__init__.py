"""A second reader of facial expressions, grounded in real faces: MediaPipe's Face Landmarker
reads a render's facial actions (:mod:`~facevlm.face_reader.landmarker`), a small head turns them
into an expression (:mod:`~facevlm.face_reader.head`), and an answer is given only where it and
the model agree (:mod:`~facevlm.face_reader.agreement`).

Free of torch and Kedro: it reads images and numbers.
"""
