"""Action-unit fields and emotion recipes: every emotion moves the face, distinctively."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from facevlm.scans.labels import BASIC_EMOTIONS, NEUTRAL
from facevlm.synthetic.expressions import (
    ACTION_UNITS,
    EMOTION_RECIPES,
    EMOTION_VARIANTS,
    au_displacement,
    au_field,
    emotion_activation,
    expression_vertices,
    subject_recipe,
)

# landmark indices (see facevlm.synthetic.procedural.landmarks)
LEFT_CORNER, RIGHT_CORNER = 48, 54
UPPER_INNER_MID, LOWER_INNER_MID = 62, 66
INNER_BROWS = (16, 26)
LEFT_EYE_TOP, LEFT_EYE_BOTTOM = 2, 6


def _landmarks(head, vertices):
    return vertices[head.landmark_indices]


def _apex(head, emotion):
    return expression_vertices(head, emotion, 4)


def test_neutral_is_the_neutral_mesh(head):
    assert np.array_equal(expression_vertices(head, NEUTRAL, 0), head.mesh.vertices)
    assert np.array_equal(expression_vertices(head, "happiness", 0), head.mesh.vertices)


@pytest.mark.parametrize("emotion", BASIC_EMOTIONS)
def test_every_emotion_moves_the_face_from_neutral(heads, emotion):
    for head in heads:
        moved = np.linalg.norm(_apex(head, emotion) - head.mesh.vertices, axis=1)
        assert moved.max() > 5.0, f"{emotion}: largest displacement {moved.max():.1f} mm"
        assert np.mean(moved[head.skin] > 1.0) > 0.05


def test_emotions_differ_from_each_other_at_apex(heads):
    for head in heads:
        apex = {e: _apex(head, e) for e in BASIC_EMOTIONS}
        for a, b in itertools.combinations(BASIC_EMOTIONS, 2):
            diff = np.linalg.norm(apex[a] - apex[b], axis=1)
            assert diff.max() > 4.0, f"{a} vs {b}: max difference {diff.max():.1f} mm"
            assert np.sqrt(np.mean(diff**2)) > 0.5, f"{a} vs {b}: rms difference too small"


def test_each_emotion_has_its_signature(head):
    """What a person looks for in a frontal view, measured on the landmarks."""
    neutral = _landmarks(head, head.mesh.vertices)
    lm = {e: _landmarks(head, _apex(head, e)) for e in BASIC_EMOTIONS}

    def corners_dy(e):
        return np.mean(
            lm[e][[LEFT_CORNER, RIGHT_CORNER], 1] - neutral[[LEFT_CORNER, RIGHT_CORNER], 1]
        )

    def opening(e):
        return lm[e][UPPER_INNER_MID, 1] - lm[e][LOWER_INNER_MID, 1]

    def mouth_width(e):
        return lm[e][RIGHT_CORNER, 0] - lm[e][LEFT_CORNER, 0]

    def inner_brows_dy(e):
        return np.mean(lm[e][list(INNER_BROWS), 1] - neutral[list(INNER_BROWS), 1])

    assert abs(neutral[UPPER_INNER_MID, 1] - neutral[LOWER_INNER_MID, 1]) < 1e-9, "closed at rest"
    # happiness: corners up and out (a wide smile), lips parted
    assert corners_dy("happiness") > 4.0
    assert mouth_width("happiness") > mouth_width("sadness") + 5.0
    # sadness: corners down, inner brows up
    assert corners_dy("sadness") < -2.5
    assert inner_brows_dy("sadness") > 2.0
    # surprise: a wide-open mouth and raised brows; fear opens less, stretches wider
    assert opening("surprise") > 15.0
    assert opening("surprise") > opening("fear") > 4.0
    assert mouth_width("fear") > mouth_width("surprise")
    assert inner_brows_dy("surprise") > 4.0
    # anger: brows down, lips pressed (closed)
    assert inner_brows_dy("anger") < -2.0
    assert opening("anger") < 1.0
    # disgust: the upper lip rises off the lower one
    assert opening("disgust") > 2.0
    assert lm["disgust"][UPPER_INNER_MID, 1] > neutral[UPPER_INNER_MID, 1] + 2.0


def test_surprise_opens_the_eyes_and_anger_narrows_them(head):
    def eye_open(v):
        lm = _landmarks(head, v)
        return lm[LEFT_EYE_TOP, 1] - lm[LEFT_EYE_BOTTOM, 1]

    rest = eye_open(head.mesh.vertices)
    assert eye_open(_apex(head, "surprise")) > rest + 2.0
    assert eye_open(_apex(head, "anger")) < rest - 0.5
    assert eye_open(_apex(head, "happiness")) < rest - 0.5


@pytest.mark.parametrize("emotion", BASIC_EMOTIONS)
def test_displacement_grows_with_intensity(head, emotion):
    recipe = subject_recipe(emotion, np.random.default_rng(1))
    sizes = []
    for level in (1, 2, 3, 4):
        v = expression_vertices(head, emotion, level, recipe=recipe)
        sizes.append(np.linalg.norm(v - head.mesh.vertices, axis=1).mean())
    assert all(b > a * 1.1 for a, b in itertools.pairwise(sizes)), sizes


def test_patches_behind_the_openings_never_move(head):
    for emotion in BASIC_EMOTIONS:
        moved = _apex(head, emotion) - head.mesh.vertices
        assert np.abs(moved[~head.skin]).max() == 0.0


def test_one_sided_activation_moves_one_side(head):
    d = au_displacement(head, {12: (1.0, 0.0)})
    x = head.mesh.vertices[:, 0]
    left = np.linalg.norm(d[x < -15], axis=1).max()
    right = np.linalg.norm(d[x > 15], axis=1).max()
    assert left > 5.0 and right < 0.05


def test_every_action_unit_is_a_smooth_local_field(head):
    for au in ACTION_UNITS:
        field = au_field(head, au)
        size = np.linalg.norm(field, axis=1)
        assert size.max() > 1.0, f"AU{au} does nothing"
        assert np.mean(size > 0.05 * size.max()) < 0.6, f"AU{au} is not local"


def test_unknown_names_raise(head):
    with pytest.raises(KeyError, match="action unit 3"):
        au_field(head, 3)
    with pytest.raises(ValueError, match="unknown emotion"):
        subject_recipe("contempt")
    with pytest.raises(ValueError, match="intensity"):
        emotion_activation("anger", 7)


def test_subjects_vary_their_recipes():
    a = subject_recipe("anger", np.random.default_rng(1))
    b = subject_recipe("anger", np.random.default_rng(2))
    assert a != b
    assert subject_recipe("anger") == {au: (w, w) for au, w in EMOTION_RECIPES["anger"].items()}
    # the core AUs (those never optional) are always there
    for seed in range(20):
        recipe = subject_recipe("surprise", np.random.default_rng(seed))
        assert {1, 2, 5, 26} <= set(recipe)
        for wl, wr in recipe.values():
            assert 0.5 < wl / wr < 2.0


#: Action units that none of EMFACS's combinations for the emotion contain.
EMFACS_NEVER = {"anger": {9}, "disgust": {4, 7, 24}}


@pytest.mark.parametrize("emotion", sorted(EMFACS_NEVER))
def test_anger_and_disgust_keep_to_emfacs(emotion):
    """Anger has no nose wrinkle, disgust no brow lowerer, lid tightener or lip presser: a
    disgust made of anger's units plus a wrinkle was taken for anger by every model."""
    for _, recipe in EMOTION_VARIANTS[emotion]:
        assert not EMFACS_NEVER[emotion] & set(recipe)
    for seed in range(30):
        assert not EMFACS_NEVER[emotion] & set(subject_recipe(emotion, np.random.default_rng(seed)))


def test_every_disgust_variant_wrinkles_the_nose_or_raises_the_upper_lip():
    for _, recipe in EMOTION_VARIANTS["disgust"]:
        assert {9, 10} & set(recipe)


@pytest.mark.parametrize("seed", range(6))
def test_signatures_survive_subject_variation(heads, seed):
    """With each subject's own recipe (optional AUs dropped, weights varied) the big cues stay."""
    rng = np.random.default_rng(seed)
    head = heads[seed % len(heads)]
    neutral = _landmarks(head, head.mesh.vertices)
    lm = {e: _landmarks(head, expression_vertices(head, e, 4, rng=rng)) for e in BASIC_EMOTIONS}
    corners = [LEFT_CORNER, RIGHT_CORNER]
    assert np.mean(lm["happiness"][corners, 1] - neutral[corners, 1]) > 3.0
    assert np.mean(lm["sadness"][corners, 1] - neutral[corners, 1]) < -2.0
    assert lm["surprise"][UPPER_INNER_MID, 1] - lm["surprise"][LOWER_INNER_MID, 1] > 8.0
    assert np.mean(lm["anger"][list(INNER_BROWS), 1] - neutral[list(INNER_BROWS), 1]) < -2.0


# ---------------------------------------------------------------------------------- folds
def test_a_smile_bunches_the_cheek_beside_a_deepening_nasolabial_fold(head):
    """AU12 gathers the skin above-lateral of the lip corner: the cheek comes forward beside
    the fold line and the fold itself sinks (what a shaded render of a smile shows)."""
    from facevlm.synthetic.procedural import shapes

    idn = head.identity
    d = au_displacement(head, {12: 1.0})
    p0, p1 = shapes.nasolabial_segment(idn, 1)
    dist, t = shapes.segment_distance(head.sheet[:, 0], head.sheet[:, 1], p0, p1)
    mid = head.skin & (t > 0.2) & (t < 0.7) & (head.sheet[:, 0] > 0)
    on_fold = mid & (dist < 1.5)
    cheek = mid & (dist > 4) & (dist < 9) & (head.sheet[:, 0] > p0[0] + 4)
    assert d[cheek, 2].mean() > d[on_fold, 2].mean() + 1.0


def test_a_frown_cuts_furrows_between_the_brows_and_bunches_the_glabella(head):
    idn = head.identity
    d = au_displacement(head, {4: 1.0})
    px, py = head.sheet[:, 0], head.sheet[:, 1]
    band = head.skin & (np.abs(py - idn.brow_y) < 3) & (np.abs(px) < 10)
    # the depth alternates across the glabella: furrows, not one smooth dent
    z = d[band, 2][np.argsort(px[band])]
    assert np.ptp(z) > 0.8
    assert np.sum(np.diff(np.sign(np.diff(z))) != 0) >= 2


def test_forehead_lines_deepen_with_age():
    from facevlm.synthetic import build_head, sample_identity

    depths = []
    for seed in range(12):
        h = build_head(sample_identity(np.random.default_rng(seed), "M"), 1500)
        band = h.skin & (h.sheet[:, 1] > h.identity.brow_y + 10) & (np.abs(h.sheet[:, 0]) < 25)
        d = au_displacement(h, {1: 1.0, 2: 1.0})
        depths.append((h.identity.age, float(np.ptp(d[band, 2]))))
    depths.sort()
    young = np.mean([d for _, d in depths[:4]])
    old = np.mean([d for _, d in depths[-4:]])
    assert old > young


def test_subjects_make_different_variants_of_an_emotion():
    seen = {frozenset(subject_recipe("happiness", np.random.default_rng(s))) for s in range(30)}
    assert any(25 not in r and 26 not in r for r in seen), "a closed-mouth smile"
    assert any(26 in r for r in seen), "an open laugh"
    assert all(12 in r for r in seen), "every smile pulls the lip corners"


def test_web_renditions_are_drawn_per_scan_and_differ_from_lab_recipes():
    from facevlm.synthetic.expressions import web_activation

    rng = np.random.default_rng(0)
    web = [web_activation("anger", 4, rng) for _ in range(20)]
    assert len({tuple(sorted(a.items())) for a in web}) == 20
    assert any(4 not in a or a[4][0] < 0.5 for a in web) or any(len(a) > 7 for a in web)
    lopsided = [abs(wl - wr) / (wl + wr) for a in web for wl, wr in a.values()]
    assert np.mean(lopsided) > 0.08
    neutral = [web_activation("neutral", 0, rng) for _ in range(40)]
    assert 5 < sum(bool(a) for a in neutral) < 35, "neutral faces often carry a faint action"


# ---------------------------------------------------------------------------------- jaw
def _narrow_and_wide_heads():
    """The extremes the generator draws: a long narrow face with a small mouth and a short
    wide one with a wide mouth and full lips."""
    from dataclasses import replace

    from facevlm.synthetic import build_head, sample_identity

    base = sample_identity(np.random.default_rng(11), "F")
    narrow = dict(face_half_width=64.0, jaw_width=0.7, length_scale=1.12, head_depth=78.0)
    wide = dict(face_half_width=82.0, jaw_width=0.95, length_scale=0.92, head_depth=98.0)
    heads = []
    for shape, mouth in ((narrow, (21.0, 6.0, 4.0)), (wide, (30.0, 13.0, 10.0))):
        k = shape["length_scale"] / base.length_scale
        idn = replace(
            base,
            **shape,
            eye_y=base.eye_y * k,
            mouth_y=base.mouth_y * k,
            brow_y=base.brow_y * k,
            nose_length=base.nose_length * k,
            hairline=base.hairline * k,
            mouth_half_width=mouth[0],
            lower_lip=mouth[1],
            upper_lip=mouth[2],
        )
        heads.append(build_head(idn, 3000))
    return heads


@pytest.fixture(scope="module")
def all_heads(heads):
    return [*heads, *_narrow_and_wide_heads()]


def _slit_pairs(head):
    """Indices of the upper and lower copy of each vertex of the lip slit, by ``x``."""
    idn = head.identity
    on_slit = head.skin & np.isclose(head.sheet[:, 1], idn.mouth_y)
    lower = np.flatnonzero(on_slit & head.lower)
    upper_of = {tuple(head.sheet[i]): i for i in np.flatnonzero(on_slit & ~head.lower)}
    upper = np.array([upper_of[tuple(head.sheet[i])] for i in lower])
    order = np.argsort(head.sheet[lower, 0])
    return upper[order], lower[order]


def _mouth_area(head, vertices):
    """Frontal area (mm²) between the two lips' edges."""
    upper, lower = _slit_pairs(head)
    gap = vertices[upper, 1] - vertices[lower, 1]
    x = 0.5 * (vertices[upper, 0] + vertices[lower, 0])
    return float(np.sum(0.5 * (gap[1:] + gap[:-1]) * np.diff(x)))


def _to_sheet(head, vertices):
    """Deformed vertices mapped back onto the face sheet (angle around the head, height)."""
    from facevlm.synthetic.procedural.head_surface import THETA_MAX, _half_width_profile

    idn = head.identity
    width = _half_width_profile(idn)(vertices[:, 1])
    theta = np.arctan2(vertices[:, 0] / width, (vertices[:, 2] + idn.head_depth) / idn.head_depth)
    return np.stack([theta / THETA_MAX * idn.sheet_half_width, vertices[:, 1]], axis=1)


def _folded_skin_triangles(head, vertices):
    """Skin triangles of the face below the eyes that turn over on the sheet."""
    tris = head.mesh.triangles()[: int(np.sum(head.mesh.arities == 3))]
    lower_face = (head.sheet[tris, 1] < head.identity.eye_y - 15.0).all(axis=1)

    def area(p):
        e1, e2 = p[:, 1] - p[:, 0], p[:, 2] - p[:, 0]
        return e1[:, 0] * e2[:, 1] - e1[:, 1] * e2[:, 0]

    before = area(_to_sheet(head, head.mesh.vertices)[tris])
    after = area(_to_sheet(head, vertices)[tris])
    return int(np.sum(lower_face & (before > 0) & (after <= 0)))


def test_the_jaw_drop_moves_the_whole_lower_face_as_one_bone(all_heads):
    """AU26 swings the chin down and back and the jaw line goes with it: below the mouth the
    face moves as a rigid body, so nothing of it hangs out of the jaw's own outline."""
    for head in all_heads:
        idn = head.identity
        v0 = head.mesh.vertices
        d = au_field(head, 26)
        px, py = head.sheet[:, 0], head.sheet[:, 1]
        chin = np.flatnonzero(head.skin & (np.abs(px) < 1.0))
        chin = chin[np.argmin(py[chin])]
        assert d[chin, 1] < -8.0, f"chin drops only {d[chin, 1]:.1f} mm"
        assert d[chin, 2] < -1.0, "the chin swings back a little"
        # the jaw line at the sides drops with the chin
        jaw_line = head.skin & (py < idn.chin_y + 15.0) & (np.abs(px) > 15.0)
        assert jaw_line.sum() > 4
        assert d[jaw_line, 1].max() < 0.6 * d[chin, 1]
        # below the lower lip the motion is rigid: the best rotation and shift explain it
        bone = head.skin & (py < idn.mouth_y - idn.lower_lip - 8.0) & (np.abs(px) < 50.0)
        a, b = v0[bone], v0[bone] + d[bone]
        ac, bc = a - a.mean(0), b - b.mean(0)
        u, _, vt = np.linalg.svd(ac.T @ bc)
        s = np.diag([1.0, 1.0, np.sign(np.linalg.det(u @ vt))])
        rigid = ac @ (u @ s @ vt) + b.mean(0)
        residual = np.linalg.norm(rigid - b, axis=1)
        assert residual.max() < 1.5, f"jaw bends by {residual.max():.1f} mm"


def test_the_cheeks_stretch_smoothly_between_jaw_and_cheekbone(all_heads):
    """From the moving jaw up to the still cheekbone the drop fades steadily: no crease."""
    for head in all_heads:
        idn = head.identity
        d = au_field(head, 26)
        px, py = head.sheet[:, 0], head.sheet[:, 1]
        # one column of the grid, beside the mouth corner
        cols, count = np.unique(px[head.skin], return_counts=True)
        cols = cols[count > 20]
        x = cols[np.argmin(np.abs(cols - idn.mouth_half_width - 15.0))]
        column = np.flatnonzero(head.skin & (px == x) & (py < idn.eye_y - 15))
        column = column[np.argsort(py[column])]
        dy = d[column, 1]
        assert dy[0] < -5.0 and dy[-1] > -0.5
        # the drop only ever lessens going up, and no 5 mm of skin takes more than a third
        assert (np.diff(dy) > -0.3).all()
        steps = np.abs(np.diff(dy)) / np.maximum(np.diff(py[column]), 1e-6)
        assert steps.max() * 5.0 < abs(dy[0]) / 3.0 + 1.0


def test_the_mouth_opening_grows_with_intensity(all_heads):
    for head in all_heads:
        for emotion in ("surprise", "fear"):
            areas = [_mouth_area(head, expression_vertices(head, emotion, k)) for k in range(5)]
            assert areas[0] == pytest.approx(0.0, abs=1e-9)
            assert all(b > a * 1.2 for a, b in itertools.pairwise(areas[1:])), areas
            assert areas[1] > 20.0
        # surprise drops the jaw into a tall oval, fear parts the lips less but wider
        assert _mouth_area(head, expression_vertices(head, "surprise", 4)) > 300.0


@pytest.mark.parametrize("emotion", ["surprise", "fear", "happiness", "disgust", "anger"])
def test_open_mouths_neither_fold_the_skin_nor_cross_the_lips(all_heads, emotion):
    """At every level and for every subject's recipe: the lips part without overlapping, the
    lower lip stays in front of the mouth cavity and opening the mouth turns no skin of the
    lower face over (a strong smile may crease the skin at its corners by itself)."""
    from scipy.interpolate import LinearNDInterpolator

    mouth = {25, 26, 27}
    for i, head in enumerate(all_heads):
        upper, lower = _slit_pairs(head)
        cavity = head.part == 1
        rngs = [np.random.default_rng(10 * i + s) for s in (1, 2, 3)]
        for recipe in [subject_recipe(emotion), *(subject_recipe(emotion, r) for r in rngs)]:
            closed = {au: w for au, w in recipe.items() if au not in mouth}
            for level in (1, 4):
                v = expression_vertices(head, emotion, level, recipe=recipe)
                assert (v[upper, 1] - v[lower, 1] > -1e-6).all(), "the lips cross"
                behind = LinearNDInterpolator(v[cavity, :2], v[cavity, 2])(v[lower, :2])
                seen = ~np.isnan(behind)
                assert (v[lower[seen], 2] > behind[seen] + 3.0).all(), "lip inside the cavity"
                folds = _folded_skin_triangles(head, v)
                if emotion in ("surprise", "fear"):
                    assert folds == 0
                else:
                    shut = expression_vertices(head, emotion, level, recipe=closed)
                    assert folds <= _folded_skin_triangles(head, shut)


def test_a_one_sided_jaw_drop_tilts_the_jaw_and_one_sided_parting_stays_one_sided(head):
    x = head.mesh.vertices[:, 0]
    px, py = head.sheet[:, 0], head.sheet[:, 1]
    idn = head.identity
    # the mandible is one bone: opening further on one side tilts it, without a midline step
    d = au_displacement(head, {26: (1.0, 0.0)})
    chin = head.skin & (py < idn.chin_y + 12.0)
    left, right = chin & (x < -15), chin & (x > 15)
    assert d[left, 1].mean() < 2.0 * d[right, 1].mean() < 0.0
    rows = np.unique(py[chin])
    row = head.skin & (py == rows[np.argmin(np.abs(rows - idn.chin_y - 8.0))])
    row &= np.abs(px) < 12.0
    order = np.argsort(px[row])
    slope = np.diff(d[row, 1][order]) / np.diff(px[row][order])
    assert np.abs(slope).max() < 0.5
    # the lips part on one side only
    d = au_displacement(head, {25: (1.0, 0.0)})
    assert np.linalg.norm(d[x < -8], axis=1).max() > 2.0
    assert np.linalg.norm(d[x > 15], axis=1).max() < 0.05
