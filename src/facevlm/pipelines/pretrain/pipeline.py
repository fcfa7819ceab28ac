from kedro.pipeline import Node, Pipeline

from facevlm.pipelines.pretrain.nodes import (
    caption_pretraining_samples,
    index_pretraining_scans,
    prepare_pretraining_scans,
    pretrain_backbone_node,
)
from facevlm.pipelines.render.nodes import render_samples, select_render_samples


def create_pipeline(**kwargs) -> Pipeline:
    """Corpus → index → renders (same settings as the evaluation renders) → captions →
    pretrained backbone (``pretrained_backbone``, read by every model pipeline)."""
    return Pipeline(
        [
            Node(
                prepare_pretraining_scans,
                ["params:pretraining", "params:synthetic"],
                "pretraining_scans_manifest",
                name="prepare_pretraining_scans",
            ),
            Node(
                index_pretraining_scans,
                ["pretraining_scans_manifest", "params:dataset.n_workers"],
                "pretraining_scan_index",
                name="index_pretraining_scans",
            ),
            Node(
                select_render_samples,
                ["pretraining_scan_index", "params:render"],
                "pretraining_render_samples",
                name="select_pretraining_render_samples",
            ),
            Node(
                render_samples,
                ["pretraining_render_samples", "params:render"],
                ["pretraining_renders", "pretraining_render_failures"],
                name="render_pretraining_samples",
            ),
            Node(
                caption_pretraining_samples,
                [
                    "pretraining_renders",
                    "pretraining_scans_manifest",
                    "params:pretraining.training",
                ],
                "pretraining_captions",
                name="caption_pretraining_samples",
            ),
            Node(
                pretrain_backbone_node,
                ["pretraining_renders", "pretraining_captions", "params:pretraining"],
                ["pretrained_backbone", "pretraining_history"],
                name="pretrain_backbone",
            ),
        ]
    )
