"""H2RBox-v2 for mmrotate 1.0.0rc1: the head's losses on hand-made views whose answer is known,
the PSC angle coder, prediction shapes and decoding, and the detector's views."""
import math
from typing import Dict, List, Optional, Sequence, Tuple

import cv2
import numpy as np
import pytest
import torch
from mmengine.config import ConfigDict
from mmengine.registry import DefaultScope
from mmengine.structures import InstanceData

import mmpeft  # noqa: F401  (compat layer: mmrotate imports)
from mmpeft.models.rotated import H2RBoxV2Detector, H2RBoxV2Head, rotate_batch
from mmpeft.models.rotated.h2rbox_v2_head import VIEW_FLP, VIEW_ORI, VIEW_ROT, view_key

SIZE = 128  # square test images; strides 8..128
STRIDES = [8, 16, 32, 64, 128]
ROT = math.pi / 3  # the rotated view's angle
PSC = dict(type='PSCCoder', angle_version='le90', dual_freq=False, num_step=3, thr_mod=0)
#: a rotated, elongated object (class 0) and a square one (class 1, rotation-agnostic):
#: (cx, cy, w, h, angle), label
OBJECTS = [((84., 84., 48., 16., 0.3), 0), ((34., 34., 24., 24., 0.5), 1)]
TEST_CFG = dict(nms_pre=2000, min_bbox_size=0, score_thr=0.05,
                nms=dict(type='nms_rotated', iou_threshold=0.1), max_per_img=2000)


def build(cfg: dict, registry: str = 'MODELS'):
    """Build ``cfg`` from one of mmrotate's registries (imported after mmpeft's compat layer)."""
    from mmrotate import registry as registries
    with DefaultScope.overwrite_default_scope('mmrotate'):
        return getattr(registries, registry).build(cfg)


def rboxes(data):
    """``RotatedBoxes`` of ``(cx, cy, w, h, angle)`` rows."""
    from mmrotate.structures import RotatedBoxes
    return RotatedBoxes(torch.as_tensor(data, dtype=torch.float32).reshape(-1, 5))


def build_head(**kwargs) -> H2RBoxV2Head:
    cfg = dict(
        type='H2RBoxV2Head', num_classes=2, in_channels=16, feat_channels=16, stacked_convs=1,
        strides=STRIDES, center_sampling=True, center_sample_radius=1.5, norm_on_bbox=True,
        centerness_on_reg=True, scale_angle=False, rotation_agnostic_classes=[1],
        agnostic_resize_classes=[1], angle_coder=PSC,
        bbox_coder=dict(type='DistanceAnglePointCoder', angle_version='le90'),
        loss_bbox=dict(type='mmdet.IoULoss', loss_weight=1.0),
        loss_symmetry_ss=dict(
            type='H2RBoxV2ConsistencyLoss',
            loss_rot=dict(type='mmdet.SmoothL1Loss', loss_weight=1.0, beta=0.1),
            loss_flp=dict(type='mmdet.SmoothL1Loss', loss_weight=0.05, beta=0.1)),
        norm_cfg=dict(type='GN', num_groups=4, requires_grad=True), test_cfg=ConfigDict(TEST_CFG))
    cfg.update(kwargs)
    return build(cfg)


def smooth_l1(x: float, beta: float = 0.1) -> float:
    x = abs(x)
    return 0.5 * x * x / beta if x < beta else x - 0.5 * beta


def hbox_of(rbox: Sequence[float]) -> List[float]:
    """The horizontal box around ``rbox``, as ``(cx, cy, W, H, 0)``."""
    cx, cy, w, h, a = rbox
    c, s = abs(math.cos(a)), abs(math.sin(a))
    return [cx, cy, c * w + s * h, s * w + c * h, 0.]


def in_view(rbox: Sequence[float], view: int) -> List[float]:
    """``rbox`` in the rotated view (turned by ROT about the image centre) or the flipped one."""
    cx, cy, w, h, a = rbox
    if view == VIEW_ROT:
        dx, dy = cx - SIZE / 2, cy - SIZE / 2
        return [SIZE / 2 + math.cos(ROT) * dx - math.sin(ROT) * dy,
                SIZE / 2 + math.sin(ROT) * dx + math.cos(ROT) * dy, w, h, a + ROT]
    if view == VIEW_FLP:
        return [cx, SIZE - cy, w, h, -a]
    return list(rbox)


def craft_outputs(head: H2RBoxV2Head, views: Sequence[int],
                  preds: Dict[Tuple[int, int], Sequence[float]]):
    """Head outputs (training mode) whose every point predicts, for the object nearest to it in
    that view, the box ``preds[(view, object)]`` ``(cx, cy, w, h, angle)``; gts are the views'
    horizontal boxes (the rotated view's turned with it), as the detector makes them."""
    coder = build(PSC, 'TASK_UTILS')
    sizes = [(math.ceil(SIZE / s), math.ceil(SIZE / s)) for s in STRIDES]
    levels = head.prior_generator.grid_priors(sizes, device='cpu')
    n = len(views)
    bbox = [torch.zeros(n, 4, *hw) for hw in sizes]
    angle = [torch.zeros(n, 3, *hw) for hw in sizes]
    batch_gt = []
    for i, view in enumerate(views):
        centres = torch.tensor([in_view(hbox_of(box), view)[:2] for box, _ in OBJECTS])
        for lvl, (points, stride) in enumerate(zip(levels, STRIDES)):
            nearest = torch.cdist(points, centres).argmin(1)
            box = torch.tensor([preds[(view, int(k))] for k in nearest])
            cos, sin = torch.cos(box[:, 4]), torch.sin(box[:, 4])
            d = box[:, :2] - points
            ox, oy = cos * d[:, 0] + sin * d[:, 1], -sin * d[:, 0] + cos * d[:, 1]
            ltrb = torch.stack([box[:, 2] / 2 - ox, box[:, 3] / 2 - oy, box[:, 2] / 2 + ox,
                                box[:, 3] / 2 + oy], 1) / stride
            bbox[lvl][i] = ltrb.t().reshape(4, *sizes[lvl])
            angle[lvl][i] = coder.encode(box[:, 4:]).t().reshape(3, *sizes[lvl])
        gts = torch.tensor([in_view(hbox_of(box), view) for box, _ in OBJECTS])
        batch_gt.append(InstanceData(
            bboxes=rboxes(gts), labels=torch.tensor([label for _, label in OBJECTS]),
            bid=view_key(torch.arange(len(OBJECTS)), view)))
    cls = [torch.zeros(n, 2, *hw) for hw in sizes]
    ctr = [torch.zeros(n, 1, *hw) for hw in sizes]
    return cls, bbox, angle, ctr, batch_gt, [dict(img_shape=(SIZE, SIZE))] * n


def true_preds(views: Sequence[int], offsets: Optional[Dict[Tuple[int, int], float]] = None,
               square_angles: Optional[Sequence[float]] = None):
    """Each object's true rotated box in each view, angles moved by ``offsets[(view, obj)]``;
    the square object predicts ``square_angles[view]`` if given."""
    preds = {}
    for view in views:
        for k, (box, _) in enumerate(OBJECTS):
            box = in_view(box, view)
            box[4] += (offsets or {}).get((view, k), 0.)
            if k == 1 and square_angles is not None:
                box[4] = square_angles[view]
            preds[(view, k)] = box
    return preds


def ss_loss(head, views, offsets=None, square_angles=(0.1, -1.2, 0.7)) -> float:
    """The symmetry loss of :func:`true_preds`; the square (rotation-agnostic) predicts
    arbitrary angles by default."""
    preds = true_preds(views, offsets, square_angles)
    losses = head.loss_by_feat(*craft_outputs(head, views, preds))
    return float(losses['loss_symmetry_ss'])


# ----------------------------------------------------------------------------- angle coder
def test_psc_coder_round_trip():
    """mmrotate's PSCCoder with H2RBox-v2's settings decodes what it encodes, modulo pi, and
    only the direction of the code vector matters (so averages of codes decode sensibly)."""
    coder = build(PSC, 'TASK_UTILS')
    assert coder.encode_size == 3
    angles = torch.linspace(-math.pi / 2, math.pi / 2, 37)[1:-1, None]
    codes = coder.encode(angles)
    assert codes.shape == (35, 3)
    torch.testing.assert_close(coder.decode(codes, keepdim=True), angles, atol=1e-5, rtol=0)
    torch.testing.assert_close(coder.decode(coder.encode(angles + math.pi), keepdim=True),
                               angles, atol=1e-5, rtol=0)
    torch.testing.assert_close(coder.decode(0.3 * codes), angles[:, 0], atol=1e-5, rtol=0)
    # -pi/2 and pi/2 are the same box angle; the decoder may return either
    edge = float(coder.decode(coder.encode(torch.tensor([[-math.pi / 2]]))))
    assert abs(abs(edge) - math.pi / 2) < 1e-5
    pair = (coder.encode(torch.tensor([[0.2]])) + coder.encode(torch.tensor([[0.4]]))) / 2
    assert abs(float(coder.decode(pair)) - 0.3) < 1e-5


# -------------------------------------------------------------------- symmetry loss (known)
def test_symmetry_loss_is_zero_for_the_true_angles_and_grows_away_from_them():
    """Original, rotated and flipped views of a rotated object and a square one: predictions
    that follow the views (theta, theta + R, -theta) cost nothing, whatever the square does;
    moving the rotated or flipped view's angle away costs the SmoothL1 of the offset."""
    head = build_head()
    views = [VIEW_ORI, VIEW_ROT, VIEW_FLP]
    assert ss_loss(head, views) < 1e-6
    assert ss_loss(head, views, square_angles=(1.0, 0.2, -0.4)) < 1e-6
    for view, weight in ((VIEW_ROT, 1.0), (VIEW_FLP, 0.05)):
        losses = [ss_loss(head, views, offsets={(view, 0): d}) for d in (0.05, 0.2, 0.5, 1.0)]
        assert losses == sorted(losses) and losses[0] > 0
        for d, loss in zip((0.05, 0.2, 0.5, 1.0), losses):
            # mean over both objects; the square's difference is set to 0
            assert loss == pytest.approx(weight * smooth_l1(d) / 2, rel=1e-3, abs=1e-6)
    # the loss is pi-periodic: an angle off by pi is the same box
    assert ss_loss(head, views, offsets={(VIEW_ROT, 0): math.pi}) < 1e-6


def test_symmetry_loss_rejects_a_prediction_blind_to_the_views():
    """The same angle in every view (a head that ignores the image's orientation) is wrong for a
    rotated object: the loss is that of the offsets it implies; an offset in the original view
    shows in both terms."""
    head = build_head()
    views = [VIEW_ORI, VIEW_ROT, VIEW_FLP]
    theta = OBJECTS[0][0][4]
    blind = ss_loss(head, views, offsets={(VIEW_ROT, 0): -ROT, (VIEW_FLP, 0): 2 * theta})
    assert blind == pytest.approx((smooth_l1(ROT) + 0.05 * smooth_l1(2 * theta)) / 2, rel=1e-3)
    d = 0.3
    off = ss_loss(head, views, offsets={(VIEW_ORI, 0): d})
    assert off == pytest.approx((smooth_l1(d) + 0.05 * smooth_l1(d)) / 2, rel=1e-3)


def test_symmetry_loss_with_one_extra_view_as_v2p():
    """STAR-MMRotate's v2p: the batch has the original and one view, and one SmoothL1 of weight
    0.2 scores whichever it is."""
    v2p = dict(type='H2RBoxV2ConsistencyLoss',
               loss_rot=dict(type='mmdet.SmoothL1Loss', loss_weight=0.2, beta=0.1),
               loss_flp=dict(type='mmdet.SmoothL1Loss', loss_weight=0.2, beta=0.1))
    head = build_head(loss_symmetry_ss=v2p, agnostic_after_nms=True)
    for view in (VIEW_ROT, VIEW_FLP):
        views = [VIEW_ORI, view]
        assert ss_loss(head, views) < 1e-6
        loss = ss_loss(head, views, offsets={(view, 0): 0.5})
        assert loss == pytest.approx(0.2 * smooth_l1(0.5) / 2, rel=1e-3)


def test_symmetry_loss_skips_objects_missing_from_a_view():
    """An object without positive points in one view of the batch leaves the symmetry loss (the
    average is then over the remaining object)."""
    head = build_head()
    views = [VIEW_ORI, VIEW_ROT, VIEW_FLP]
    outputs = list(craft_outputs(head, views, true_preds(views, {(VIEW_ROT, 0): 0.5})))
    full = float(head.loss_by_feat(*outputs)['loss_symmetry_ss'])
    flipped_gt = outputs[4][2]
    outputs[4][2] = flipped_gt[flipped_gt.labels == 0]  # the square has no gt in the flip view
    only_one = float(head.loss_by_feat(*outputs)['loss_symmetry_ss'])
    assert only_one == pytest.approx(2 * full, rel=1e-3)


# ---------------------------------------------------------------------- box loss (CircumIoU)
def test_circumiou_loss_is_zero_for_the_true_box_and_for_its_horizontal_box():
    """HBox supervision: the true rotated box and the horizontal box both project onto the
    target (zero box loss) in the original view; in the rotated view only the turned true box
    does; a wrong angle with the true size costs. (No rotation-agnostic class here: their
    angles are forced to 0, so the square's true box would not be predicted.)"""
    head = build_head(rotation_agnostic_classes=[])
    views = [VIEW_ORI, VIEW_ROT]
    loss = head.loss_by_feat(*craft_outputs(head, views, true_preds(views)))
    assert float(loss['loss_bbox']) < 1e-4
    hbox_preds = true_preds(views)
    hbox_preds[(VIEW_ORI, 0)] = hbox_of(OBJECTS[0][0])
    loss = head.loss_by_feat(*craft_outputs(head, [VIEW_ORI], hbox_preds))
    assert float(loss['loss_bbox']) < 1e-4
    wrong = head.loss_by_feat(*craft_outputs(head, views, true_preds(views, {(VIEW_ORI, 0): 0.4,
                                                                           (VIEW_ROT, 0): 0.4})))
    assert float(wrong['loss_bbox']) > 0.05
    assert all(torch.isfinite(v) for v in wrong.values())


def test_losses_without_positives_keep_the_graph():
    """No gt in the batch: zero box, centerness and symmetry losses that still reach the head's
    outputs (DDP needs every output in the graph)."""
    head = build_head()
    cls, bbox, angle, ctr, batch_gt, metas = craft_outputs(head, [VIEW_ORI], true_preds([0]))
    for maps in (cls, bbox, angle, ctr):
        for m in maps:
            m.requires_grad_(True)
    empty = [InstanceData(bboxes=rboxes(torch.zeros(0, 5)), labels=torch.zeros(0).long(),
                          bid=torch.zeros(0).long())]
    losses = head.loss_by_feat(cls, bbox, angle, ctr, empty, metas)
    assert set(losses) == {'loss_cls', 'loss_bbox', 'loss_centerness', 'loss_symmetry_ss'}
    for key in ('loss_bbox', 'loss_centerness', 'loss_symmetry_ss'):
        assert float(losses[key].detach()) == 0 and losses[key].requires_grad


# ------------------------------------------------------------------------- shapes, predict
def test_forward_shapes_and_losses_backward():
    head = build_head()
    feats = [torch.rand(2, 16, math.ceil(SIZE / s), math.ceil(SIZE / s)) for s in STRIDES]
    cls, bbox, angle, ctr = head(feats)
    for lvl, s in enumerate(STRIDES):
        hw = (math.ceil(SIZE / s), ) * 2
        assert cls[lvl].shape == (2, 2, *hw) and bbox[lvl].shape == (2, 4, *hw)
        assert angle[lvl].shape == (2, 3, *hw) and ctr[lvl].shape == (2, 1, *hw)
    batch_gt = craft_outputs(head, [VIEW_ORI, VIEW_ROT], true_preds([0, 1]))[4]
    losses = head.loss_by_feat(cls, bbox, angle, ctr, batch_gt, [{}, {}])
    sum(losses.values()).backward()
    assert head.conv_angle.weight.grad.abs().sum() > 0  # the angle learns from the SS loss


@pytest.mark.parametrize('after_nms', [False, True])
def test_predict_decodes_rotated_boxes(after_nms):
    """One confident point per object: the decoded boxes are the predicted rotated boxes
    (pixel distances at test time), the score is sigmoid(cls) x sigmoid(centerness), the
    rotation-agnostic class gets angle 0 and its resize class x0.85, and rescale undoes the
    resize of the image."""
    head = build_head(agnostic_after_nms=after_nms)
    head.eval()
    coder = build(PSC, 'TASK_UTILS')
    sizes = [(math.ceil(SIZE / s), ) * 2 for s in STRIDES]
    cls = [torch.full((1, 2, *hw), -10.) for hw in sizes]
    bbox = [torch.ones(1, 4, *hw) for hw in sizes]
    angle = [torch.zeros(1, 3, *hw) for hw in sizes]
    ctr = [torch.zeros(1, 1, *hw) for hw in sizes]
    wanted = [(2, 3, 0, (44., 20., 40., 10., 0.4)), (5, 6, 1, (82., 90., 16., 14., -0.7))]
    points = head.prior_generator.grid_priors(sizes, device='cpu')[0]
    for i, j, label, (cx, cy, w, h, a) in wanted:  # level 0, row i, column j
        px, py = points[i * sizes[0][1] + j].tolist()
        ox = math.cos(a) * (cx - px) + math.sin(a) * (cy - py)
        oy = -math.sin(a) * (cx - px) + math.cos(a) * (cy - py)
        bbox[0][0, :, i, j] = torch.tensor([w / 2 - ox, h / 2 - oy, w / 2 + ox, h / 2 + oy])
        angle[0][0, :, i, j] = coder.encode(torch.tensor([[a]]))[0]
        cls[0][0, label, i, j] = 2.
        ctr[0][0, 0, i, j] = 1.
    meta = dict(img_shape=(SIZE, SIZE), scale_factor=(2., 2.))
    result = head.predict_by_feat(cls, bbox, angle, ctr, [meta], rescale=True)[0]
    assert len(result) == 2
    order = result.labels.argsort()
    boxes = result.bboxes.tensor[order]
    torch.testing.assert_close(boxes[0], torch.tensor([22., 10., 20., 5., 0.4]), atol=1e-4,
                               rtol=0)
    torch.testing.assert_close(boxes[1], torch.tensor([41., 45., 8. * .85, 7. * .85, 0.]),
                               atol=1e-4, rtol=0)
    expected = torch.sigmoid(torch.tensor(2.)) * torch.sigmoid(torch.tensor(1.))
    torch.testing.assert_close(result.scores, expected.expand(2), atol=1e-5, rtol=0)


# --------------------------------------------------------------------------- the views
def tiny_detector(**kwargs) -> H2RBoxV2Detector:
    cfg = dict(
        type='H2RBoxV2Detector',
        backbone=dict(type='mmdet.ResNet', depth=18, base_channels=8, out_indices=(1, 2, 3)),
        neck=dict(type='mmdet.FPN', in_channels=[16, 32, 64], out_channels=16, start_level=0,
                  add_extra_convs='on_output', num_outs=5),
        bbox_head=dict(type='H2RBoxV2Head', num_classes=2, in_channels=16, feat_channels=16,
                       stacked_convs=1, strides=STRIDES, angle_coder=PSC,
                       norm_cfg=dict(type='GN', num_groups=4, requires_grad=True),
                       loss_bbox=dict(type='mmdet.IoULoss')),
        data_preprocessor=dict(type='mmdet.DetDataPreprocessor', boxtype2tensor=False))
    cfg.update(kwargs)
    return build(cfg)


def blob(img: np.ndarray) -> Tuple[float, float, float]:
    """Centre and orientation (radians, pi-periodic) of the bright pixels of ``img``."""
    m = cv2.moments((img > 0.5).astype(np.uint8), binaryImage=True)
    cx, cy = m['m10'] / m['m00'], m['m01'] / m['m00']
    return cx, cy, 0.5 * math.atan2(2 * m['mu11'], m['mu20'] - m['mu02'])


@pytest.mark.parametrize('mode,padding,grid,shape', [
    ('bilinear', 'reflection', 'normalized', (112, 112)),  # mmrotate 1.x (square inputs)
    ('bilinear', 'reflection', 'pixel', (96, 128)),
    ('nearest', 'zeros', 'pixel', (96, 128))])  # v2p
def test_rotated_and_flipped_views_move_image_and_boxes_alike(mode, padding, grid, shape):
    """A drawn rotated rectangle: in the rotated and the flipped view the pixels sit where the
    view's gt box says (centre and orientation); the pixel grid also on a non-square image."""
    h, w = shape
    box = (70., 50., 40., 12., 0.35)
    img = np.zeros((h, w), np.float32)
    pts = cv2.boxPoints(((box[0] - .5, box[1] - .5), box[2:4], math.degrees(box[4])))
    cv2.fillPoly(img, [np.round(pts).astype(np.int32)], 1.)
    inputs = torch.from_numpy(img)[None, None].repeat(1, 3, 1, 1)
    det = tiny_detector(interpolation=mode, padding=padding, rotate_grid=grid)
    gt = InstanceData(bboxes=rboxes(torch.tensor([box])), labels=torch.tensor([0]),
                      bid=view_key(torch.tensor([0]), VIEW_ORI))
    x0, y0, a0 = blob(img)
    assert abs(x0 + .5 - box[0]) < 0.3 and abs(y0 + .5 - box[1]) < 0.3
    for view, angle in ((VIEW_ROT, 0.9), (VIEW_FLP, 0.)):
        out, (view_gt, ) = det.make_view(inputs, [gt], view, angle)
        assert out.shape == inputs.shape and int(view_gt.bid) == view
        x, y, a = blob(out[0, 0].numpy())
        bx, by, _, _, ba = view_gt.bboxes.tensor[0].tolist()
        assert abs(x + .5 - bx) < 0.5 and abs(y + .5 - by) < 0.5, (view, x, y, bx, by)
        diff = (a - ba + math.pi / 2) % math.pi - math.pi / 2
        assert abs(diff) < math.radians(2), (view, a, ba)
    assert rotate_batch(inputs, 0., grid=grid).sub(inputs).abs().max() < 1e-5


def test_rotation_grids_differ_only_in_reflection_and_on_non_square_inputs():
    """mmrotate 1.x's normalised grid and torchvision's pixel grid sample a square image alike
    (zero padding); reflection padding fills the corners differently (1.x mirrors about the
    border pixels' centres, torchvision about the image edge); a non-square image is sheared by
    the normalised grid."""
    torch.manual_seed(0)
    square = torch.rand(1, 2, 48, 48)
    same = [rotate_batch(square, 0.7, grid=g, padding='zeros') for g in ('normalized', 'pixel')]
    torch.testing.assert_close(same[0], same[1], atol=1e-5, rtol=0)
    refl = [rotate_batch(square, 0.7, grid=g) for g in ('normalized', 'pixel')]
    differ = (refl[0] - refl[1]).abs().amax(1)[0] > 1e-4
    yy, xx = torch.meshgrid(torch.arange(48.) - 23.5, torch.arange(48.) - 23.5, indexing='ij')
    inside = (xx ** 2 + yy ** 2).sqrt() < 23  # sampled from inside the image by both
    assert differ.any() and not differ[inside].any()
    wide = torch.rand(1, 2, 32, 64)
    assert (rotate_batch(wide, 0.7, grid='normalized', padding='zeros') -
            rotate_batch(wide, 0.7, grid='pixel', padding='zeros')).abs().max() > 0.1
    with pytest.raises(ValueError, match='grid must be one of'):
        rotate_batch(square, 0.7, grid='torchvision')
    with pytest.raises(ValueError, match='rotate_grid must be one of'):
        tiny_detector(rotate_grid='torchvision')


@pytest.mark.parametrize('prob_rot,expected', [(None, [VIEW_ORI, VIEW_ROT, VIEW_FLP]),
                                               (1.0, [VIEW_ORI, VIEW_ROT]),
                                               (0.0, [VIEW_ORI, VIEW_FLP])])
def test_detector_batch_of_views(prob_rot, expected, monkeypatch):
    """mmrotate 1.x: original + rotated + flipped (batch x 3); v2p: original + one view. Every
    object keeps one id across the views; the view is in its bid."""
    from mmdet.structures import DetDataSample
    det = tiny_detector(prob_rot=prob_rot, crop_size=(64, 64))
    seen = {}

    def capture(feats, samples):
        seen.update(feats=feats, samples=samples)
        return {}

    monkeypatch.setattr(det.bbox_head, 'loss', capture)
    samples = []
    for n in (2, 1):
        s = DetDataSample(metainfo=dict(img_shape=(96, 96)))
        s.gt_instances = InstanceData(bboxes=rboxes(torch.rand(n, 5) * 10 + 40),
                                      labels=torch.zeros(n).long())
        samples.append(s)
    det.loss(torch.rand(2, 3, 96, 96), samples)
    assert seen['feats'][0].shape[0] == 2 * len(expected)
    assert seen['feats'][0].shape[-1] == 64 // 8  # centre crop to 64
    bids = [s.gt_instances.bid.tolist() for s in seen['samples']]
    assert bids == [[view_key(torch.tensor(k), v).item() for k in ids]
                    for v in expected for ids in ([0, 1], [2])]
    assert samples[0].gt_instances.bboxes.tensor.min() >= 40  # the inputs' gts are untouched
