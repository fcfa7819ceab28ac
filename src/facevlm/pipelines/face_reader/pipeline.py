from kedro.pipeline import Node, Pipeline

from facevlm.pipelines.face_reader.nodes import read_render_face_actions


def create_pipeline(**kwargs) -> Pipeline:
    """Renders → the landmarker's 51 blend-shape scores of each sample (``face_actions``), read
    once and shared by every model's face reader (fitted in each model's pipeline on its folds);
    a sequence is read from the still of its apex frame (``apex_stills``)."""
    return Pipeline(
        [
            Node(
                read_render_face_actions,
                inputs=["renders", "params:face_reader", "apex_stills"],
                outputs="face_actions",
                name="read_face_actions",
            )
        ]
    )
