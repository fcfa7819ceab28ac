"""``kedro run --pipeline=expression_bank``: photos and FACS tables -> the bank and its report."""

from kedro.pipeline import Node, Pipeline

from facevlm.pipelines.expression_bank.nodes import (
    assemble_expression_bank,
    read_facs_expressions,
    read_photo_expressions,
)


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline(
        [
            Node(
                read_photo_expressions,
                inputs="params:expression_bank",
                outputs=["expression_bank_photo_rows", "expression_bank_photo_report"],
                name="read_photo_expressions",
            ),
            Node(
                read_facs_expressions,
                inputs="params:expression_bank",
                outputs=["expression_bank_facs_rows", "expression_bank_facs_report"],
                name="read_facs_expressions",
            ),
            Node(
                assemble_expression_bank,
                inputs=[
                    "expression_bank_photo_rows",
                    "expression_bank_facs_rows",
                    "expression_bank_photo_report",
                    "expression_bank_facs_report",
                ],
                outputs=["expression_bank", "expression_bank_report"],
                name="assemble_expression_bank",
            ),
        ]
    )
