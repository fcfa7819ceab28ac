"""The ``pretrain`` pipeline: the evaluation data's own ingest and render stages, reused under the
``pretraining`` namespace on a separate corpus, then captions and CLIP pretraining.

``pipeline(ingest + render, namespace="pretraining")`` reads ``params:pretraining.dataset`` and
``params:pretraining.synthetic`` where ingest reads ``params:dataset`` and ``params:synthetic``,
and writes ``pretraining.scan_index``, ``pretraining.renders``, ... (dataset factories in the
catalog). The render settings and the cache folders are shared with the evaluation data, so the
corpus is rendered like the scans the models are evaluated on, in their modalities and those of
``params:pretraining.extra_modalities`` (:func:`corpus_render_settings`).
"""

from kedro.pipeline import Node, Pipeline, pipeline

from facevlm.pipelines import ingest, render
from facevlm.pipelines.pretrain.nodes import (
    backbone_for_recipe,
    caption_pretraining_samples,
    corpus_render_settings,
    keep_backbone_by_recipe,
    pretrain_backbone_node,
)

NAMESPACE = "pretraining"
SHARED_PARAMETERS = {"params:render", "params:caches.scan_index", "params:caches.renders"}


def create_pipeline(**kwargs) -> Pipeline:
    """Corpus → index → renders → captions → pretrained backbone (``pretrained_backbone``),
    kept in the store of backbones by recipe (``pretraining.store``), where the model
    pipelines find it (:func:`create_loading_pipeline`)."""
    settings = Node(
        corpus_render_settings,
        ["params:render", "params:extra_modalities"],
        "render_settings",
        name="render_settings",
    )
    # no face reader reads the corpus: its sequences need no apex stills
    corpus = pipeline(
        ingest.create_pipeline(contact_sheet=False)
        + Pipeline([settings])
        + render.create_pipeline(settings="render_settings", apex_stills=False),
        namespace=NAMESPACE,
        parameters={p: p for p in SHARED_PARAMETERS},
    )
    return (
        corpus
        + pipeline(
            [
                Node(
                    caption_pretraining_samples,
                    ["renders", "raw_scans_manifest", "params:training", "params:synthetic.seed"],
                    "captions",
                    name="caption_samples",
                ),
                Node(
                    pretrain_backbone_node,
                    ["renders", "captions", "params:training", "params:caches.pretraining"],
                    ["made_backbone", "history"],
                    name="pretrain_backbone",
                ),
            ],
            namespace=NAMESPACE,
            parameters={
                "params:synthetic.seed": "params:synthetic.seed",
                "params:caches.pretraining": "params:caches.pretraining",
            },
        )
        + Pipeline(
            [
                Node(
                    keep_backbone_by_recipe,
                    [f"{NAMESPACE}.made_backbone", "params:pretraining", "params:render"],
                    "pretrained_backbone",
                    name="keep_backbone_by_recipe",
                )
            ]
        )
    )


def create_loading_pipeline(**kwargs) -> Pipeline:
    """The pretrained backbone of the configured recipe read from the store of backbones by
    recipe (``pretraining.store``: the project ships the default's), instead of made from its
    corpus: what the model pipelines start from. A recipe with none there is built with the
    ``pretrain`` pipeline (:func:`create_pipeline`), which puts it there."""
    return Pipeline(
        [
            Node(
                backbone_for_recipe,
                ["params:pretraining", "params:render"],
                ["pretrained_backbone", f"{NAMESPACE}.history"],
                name="backbone_for_recipe",
            )
        ]
    )
