"""H2RBox-v2 trains as mmrotate's 1.x branch does: a tiny detector with the 1.x DOTA config's
head settings, on fixed weights, images, horizontal gt boxes and rotation angle, gives the
losses and the gradient that mmrotate 1.x's own ``H2RBoxV2Detector`` / ``H2RBoxV2Head`` /
``H2RBoxV2ConsistencyLoss`` gave on the same inputs (recorded in ``tests/data``; the 1.x code is
not needed here)."""
import os.path as osp
from typing import Dict, List, Tuple

import pytest
import torch
from mmengine.registry import DefaultScope
from mmengine.structures import InstanceData

import mmpeft  # noqa: F401  (compat layer: mmrotate imports)

REPO = osp.dirname(osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))
FIXTURE = osp.join(REPO, 'tests', 'data', 'h2rbox_v2_mmrotate1x.pt')
#: the recorded cases (batches of 2, HBoxes of 3 classes, class 1 rotation-agnostic): square
#: inputs as DOTA patches (crop = input, rotation 0.3 pi); a non-square batch cropped to a smaller
#: non-square centre (0.3 pi); objects near the edges, some leaving the rotated view (0.7 pi), next
#: to an image without objects
CASES = ('square', 'crop_non_square', 'edge_objects')
#: FCOS's regress ranges / 8 (the images are ~1/16 of DOTA's 1024), so that the tiny objects
#: are assigned to several levels
REGRESS_RANGES = ((-1, 8), (8, 16), (16, 32), (32, 64), (64, 1e8))
TOL = 1e-4  # relative, on each loss and on the gradient's norm


def tiny_cfg(detector: str = 'H2RBoxV2Detector', head: str = 'H2RBoxV2Head',
             ss_loss: str = 'H2RBoxV2ConsistencyLoss', **detector_kwargs) -> dict:
    """A tiny ResNet + FPN + the head with mmrotate 1.x's DOTA settings (``configs/h2rbox_v2/
    h2rbox_v2-le90_r50_fpn-1x_dota.py``; regress ranges / 8), 3 classes of which 1 is
    rotation-agnostic."""
    psc = dict(type='PSCCoder', angle_version='le90', dual_freq=False, num_step=3, thr_mod=0)
    return dict(
        type=detector,
        # ResNet-18's first three stages at strides 8, 16, 32, 3-12 channels
        backbone=dict(type='mmdet.ResNet', depth=18, base_channels=3, num_stages=3,
                      strides=(2, 2, 2), dilations=(1, 1, 1), out_indices=(0, 1, 2)),
        neck=dict(type='mmdet.FPN', in_channels=[3, 6, 12], out_channels=8, start_level=0,
                  add_extra_convs='on_output', num_outs=5, relu_before_extra_convs=True),
        bbox_head=dict(
            type=head, num_classes=3, in_channels=8, feat_channels=8, stacked_convs=1,
            angle_version='le90', strides=[8, 16, 32, 64, 128], regress_ranges=REGRESS_RANGES,
            center_sampling=True,
            center_sample_radius=1.5, norm_on_bbox=True, centerness_on_reg=True,
            use_hbbox_loss=False, scale_angle=False, rotation_agnostic_classes=[1],
            agnostic_resize_classes=[1], use_circumiou_loss=True, use_standalone_angle=True,
            use_reweighted_loss_bbox=False, angle_coder=psc,
            bbox_coder=dict(type='DistanceAnglePointCoder', angle_version='le90'),
            norm_cfg=dict(type='GN', num_groups=2, requires_grad=True),
            loss_cls=dict(type='mmdet.FocalLoss', use_sigmoid=True, gamma=2.0, alpha=0.25,
                          loss_weight=1.0),
            loss_bbox=dict(type='mmdet.IoULoss', loss_weight=1.0),
            loss_centerness=dict(type='mmdet.CrossEntropyLoss', use_sigmoid=True,
                                 loss_weight=1.0),
            loss_symmetry_ss=dict(
                type=ss_loss, use_snap_loss=True,
                loss_rot=dict(type='mmdet.SmoothL1Loss', loss_weight=1.0, beta=0.1),
                loss_flp=dict(type='mmdet.SmoothL1Loss', loss_weight=0.05, beta=0.1))),
        data_preprocessor=dict(type='mmdet.DetDataPreprocessor', boxtype2tensor=False),
        **detector_kwargs)


def build_detector(case: dict, **cfg_kwargs) -> torch.nn.Module:
    """The tiny detector of ``case`` with its recorded weights, in training mode."""
    from mmrotate.registry import MODELS
    cfg = tiny_cfg(**cfg_kwargs)
    cfg.update(crop_size=tuple(case['crop_size']), view_range=(case['view'], case['view']))
    with DefaultScope.overwrite_default_scope('mmrotate'):
        model = MODELS.build(cfg)
    model.load_state_dict({k: v.float() for k, v in case['state'].items()})
    return model.train()


def normalized(images: torch.Tensor) -> torch.Tensor:
    """uint8 images ``(N, 3, H, W)`` as the model's input (exact in float32)."""
    return (images.float() - 128) / 64


def samples_of(case: dict) -> list:
    """Fresh data samples (the detectors change their gts in place) with the case's HBoxes."""
    from mmdet.structures import DetDataSample
    from mmrotate.structures import RotatedBoxes
    h, w = case['images'].shape[-2:]
    samples = []
    for boxes, labels in zip(case['gt_bboxes'], case['gt_labels']):
        sample = DetDataSample(metainfo=dict(img_shape=(h, w), pad_shape=(h, w)))
        sample.gt_instances = InstanceData(bboxes=RotatedBoxes(boxes.clone()),
                                           labels=labels.clone())
        samples.append(sample)
    return samples


def losses_and_grads(model: torch.nn.Module,
                     case: dict) -> Tuple[Dict[str, float], Dict[str, torch.Tensor]]:
    """The four losses of ``case`` and the gradient of their sum w.r.t. every parameter."""
    model.zero_grad()
    losses = model.loss(normalized(case['images']), samples_of(case))
    sum(losses.values()).backward()
    grads = {n: p.grad.detach().clone() for n, p in model.named_parameters()
             if p.grad is not None}
    return {k: float(v.detach()) for k, v in losses.items()}, grads


def flat_gradient(grads: Dict[str, torch.Tensor], names: List[str]) -> torch.Tensor:
    """The gradients of the parameters ``names`` (all that got one, in this order), as one
    vector."""
    assert sorted(grads) == sorted(names), sorted(set(grads) ^ set(names))
    return torch.cat([grads[n].flatten() for n in names])


def relative_gradient_error(grads: Dict[str, torch.Tensor], case: dict) -> float:
    """``||g - g_ref|| / ||g_ref||`` over all parameters."""
    reference = case['grad'].float()
    return float((flat_gradient(grads, case['grad_names']) - reference).norm() /
                 reference.norm())


@pytest.fixture(scope='module')
def recorded() -> Dict[str, dict]:
    data = torch.load(FIXTURE, weights_only=True)
    assert sorted(data['cases']) == sorted(CASES)
    return {name: dict(case, state=data['state']) for name, case in data['cases'].items()}


def test_fixture_is_small_and_complete(recorded):
    """The recorded cases hold inputs and 1.x outputs for every parameter of the tiny detector
    (11,854: backbone 6,750, neck 3,112, head 1,992); the file stays small."""
    from mmrotate.registry import MODELS
    assert osp.getsize(FIXTURE) < 350_000
    with DefaultScope.overwrite_default_scope('mmrotate'):
        model = MODELS.build(tiny_cfg())
    counts = [sum(p.numel() for p in m.parameters())
              for m in (model.backbone, model.neck, model.bbox_head)]
    assert counts == [6_750, 3_112, 1_992]
    names = [n for n, _ in model.named_parameters()]
    for case in recorded.values():
        assert set(case['losses']) == {'loss_cls', 'loss_bbox', 'loss_centerness',
                                       'loss_symmetry_ss'}
        assert all(v > 0 for v in case['losses'].values())
        assert sorted(case['grad_names']) == sorted(names) and case['grad'].numel() == 11_854
        assert len(case['gt_bboxes']) == len(case['images'])


@pytest.mark.parametrize('name', CASES)
def test_losses_and_gradient_equal_mmrotate_1x(recorded, name):
    """The defaults (configured as mmrotate 1.x) give 1.x's losses and gradient within 1e-4."""
    case = recorded[name]
    losses, grads = losses_and_grads(build_detector(case), case)
    for key, ref in case['losses'].items():
        assert losses[key] == pytest.approx(float(ref), rel=TOL), (key, losses, case['losses'])
    assert relative_gradient_error(grads, case) < TOL


def test_r50_control_config_is_configured_as_1x():
    """The R50 control config has 1.x's view and loss settings (those checked above)."""
    from mmengine.config import Config
    cfg = Config.fromfile(osp.join(REPO, 'configs', 'h2rbox_v2',
                                   'h2rbox-v2-le90_r50_fpn_1x_dota.py')).model
    assert (cfg.prob_rot, cfg.interpolation, cfg.padding, cfg.rotate_grid) == (
        None, 'bilinear', 'reflection', 'normalized')
    assert tuple(cfg.crop_size) == (1024, 1024) and tuple(cfg.view_range) == (0.25, 0.75)
    head = cfg.bbox_head
    assert not head.agnostic_after_nms and head.loss_bbox.type == 'mmdet.IoULoss'
    assert (head.loss_symmetry_ss.loss_rot.loss_weight,
            head.loss_symmetry_ss.loss_flp.loss_weight) == (1.0, 0.05)


def test_the_torchvision_grid_is_not_1x(recorded):
    """The fixture tells the views apart: v2p's pixel grid (edge reflection, and isotropic on a
    non-square batch) gives another gradient, so the check above can fail."""
    errors = []
    for name in CASES:
        case = recorded[name]
        _, grads = losses_and_grads(build_detector(case, rotate_grid='pixel'), case)
        errors.append(relative_gradient_error(grads, case))
    assert min(errors) > 100 * TOL, errors
