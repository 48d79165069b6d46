"""CoLin: the official formula (re-implemented here from its description, on the module's own
tensors), its orthogonality loss as a term of the loss dict of a detector and of a segmentor, the
reference counts, and the official detector files loading."""
import os.path as osp

import pytest
import torch
import torch.nn.functional as F
from mmengine.config import Config
from mmengine.registry import DefaultScope, init_default_scope
from peft_swin_cases import SWIN_B, SWIN_L

import mmpeft  # noqa: F401
from mmpeft.models.backbones import PEFTSwinTransformer
from mmpeft.models.peft import CoLin, Site, attach_aux_losses, collect_aux_losses
from mmpeft.models.utils import count_parameters

from e2e_utils import CONFIGS

TINY = dict(embed_dims=32, depths=(2, 2), num_heads=(1, 2), window_size=4, out_indices=(0, 1))


def ref_clp(x, a, b, gains, bias):
    """The official ``CLP_Multi`` forward: ``sum_i (A diag(g_i) B)^T`` as the Linear weight."""
    weight = sum(torch.mm(torch.mm(a, torch.diag(g.squeeze())), b).t() for g in gains)
    return F.linear(x, weight, bias)


def ref_colin(m: CoLin, x, hw):
    """The official ``CoLin.forward`` on the tensors of ``m``."""
    p1, p2 = m.project1.param_dict, m.project2.param_dict
    gains = [p1[f'g{i}'] for i in range(4)]
    z = ref_clp(x, p1['A'], p1['B'], gains, m.project1.bias)
    b, n, c = z.shape
    z = z.view(b, hw[0], hw[1], c).permute(0, 3, 1, 2)
    s = torch.sigmoid(m.inner_scale)
    z = s * m.inner_op(z) + (1.0 - s) * z
    z = z.permute(0, 2, 3, 1).reshape(b, n, c)
    return x + ref_clp(F.gelu(z), p2['A'], p2['B'], gains, m.project2.bias)


def ref_orthogonal_loss(m: CoLin):
    """The official loss each CLP back-propagated: ``0.5 * sum over its 4 branches of
    (|P^T P - I|^2 + |Q Q^T - I|^2)``, summed over the two CLPs."""
    total = 0
    for clp in (m.project1, m.project2):
        a, b = clp.param_dict['A'], clp.param_dict['B']
        one = (torch.norm(a.t() @ a - torch.eye(a.shape[1]), p='fro') ** 2
               + torch.norm(b @ b.t() - torch.eye(b.shape[0]), p='fro') ** 2)
        total = total + 0.5 * 4 * one
    return total


def test_colin_matches_the_official_formula_forward_and_gradients():
    torch.manual_seed(0)
    m = CoLin(32).double()
    with torch.no_grad():
        m.inner_scale.normal_()  # sigmoid(0) = 0.5 would hide a swapped mix
    attach_aux_losses(m)
    x = torch.randn(2, 15, 32, dtype=torch.float64, requires_grad=True)
    out = m(x, (3, 5))
    ref = ref_colin(m, x, (3, 5))
    torch.testing.assert_close(out, ref, atol=1e-10, rtol=1e-10)
    w = torch.randn_like(out)
    grads = torch.autograd.grad((out * w).sum(), [x, *m.parameters()])
    ref_grads = torch.autograd.grad((ref * w).sum(), [x, *m.parameters()])
    for g, r in zip(grads, ref_grads):
        torch.testing.assert_close(g, r, atol=1e-9, rtol=1e-9)
    # the loss term: the official value, and gradients for A and B of both projections only
    loss = m.aux_losses()['loss_orth']
    torch.testing.assert_close(loss, ref_orthogonal_loss(m).float(), rtol=1e-5, atol=1e-4)
    assert loss.dtype == torch.float32 and loss > 0
    named = dict(m.named_parameters())
    grads = dict(zip(named, torch.autograd.grad(loss, list(named.values()), allow_unused=True)))
    assert {n for n, g in grads.items() if g is not None and g.abs().sum() > 0} == {
        'project1.param_dict.A', 'project1.param_dict.B', 'project2.param_dict.A',
        'project2.param_dict.B'}


def test_colin_init_is_the_official_one():
    torch.manual_seed(0)
    m = CoLin(64)
    p1, p2 = m.project1.param_dict, m.project2.param_dict
    assert sorted(p1) == ['A', 'B', 'g0', 'g1', 'g2', 'g3'] and sorted(p2) == ['A', 'B']
    assert p1['A'].shape == (64, 28) and p1['B'].shape == (28, 100)
    assert p2['A'].shape == (100, 28) and p2['B'].shape == (28, 64)
    for i in range(4):  # singular values: positive, descending, of a 100 x 64 draw (P2's)
        g = p1[f'g{i}'].squeeze()
        assert (g > 0).all() and (g[:-1] >= g[1:]).all()
    # A: the mean of 4 orthonormal column sets, so each column has norm <= 1
    assert (p1['A'].norm(dim=0) <= 1 + 1e-5).all()
    assert torch.equal(m.inner_scale, torch.zeros(1, 100, 1, 1))
    bound = 1 / 64 ** 0.5
    assert m.project1.bias.abs().max() <= bound and m.project2.bias.abs().max() <= 0.1


def test_colin_refuses_a_training_forward_whose_loss_nobody_adds():
    m = CoLin(32)
    x = torch.randn(1, 4, 32)
    with pytest.raises(RuntimeError, match='loss_orth.*nothing collects it'):
        m(x, (2, 2))
    with torch.no_grad():
        m(x, (2, 2))  # no training step: nothing to add
    m.eval()
    m(x, (2, 2))
    with pytest.raises(ValueError, match='tokens'):
        m(x, (3, 2))


@pytest.mark.parametrize('arch,expected', [(SWIN_B, 1_703_424), (SWIN_L, 2_389_248)])
def test_colin_counts_are_the_references(arch, expected):
    model = PEFTSwinTransformer(**arch, method=dict(type='CoLin'))
    assert count_parameters(model)['trainable'] == expected
    block = model.stages[2].blocks[0]
    assert block.peft_sites == {Site.ATTN_RESIDUAL: 'colin1', Site.FFN_RESIDUAL: 'colin2'}
    # the backbone's orthogonality loss is the sum over its modules, its loss dict term weighted
    loss = model.orthogonal_loss()
    assert torch.allclose(loss, sum(m.orthogonal_loss() for m in model.modules()
                                    if isinstance(m, CoLin)))
    assert torch.allclose(model.aux_losses()['loss_orth'], 0.5 * loss)


def _build(cfg, scope):
    init_default_scope(scope)
    from mmengine.registry import MODELS
    with DefaultScope.overwrite_default_scope(scope):
        return MODELS.build(cfg)


def _tiny_backbone():
    return dict(type='PEFTSwinTransformer', method=dict(type='CoLin'), **TINY)


def test_loss_orth_is_a_term_of_a_detectors_loss_dict():
    from mmdet.structures import DetDataSample
    from mmengine.structures import InstanceData
    cfg = Config.fromfile(osp.join(CONFIGS, 'colin/retinanet_swin-l-colin_fpn_1x_voc0712.py')).model
    cfg.backbone = _tiny_backbone()
    cfg.neck.update(in_channels=[32, 64], out_channels=16)
    cfg.bbox_head.update(in_channels=16, feat_channels=16, stacked_convs=1)
    torch.manual_seed(0)
    model = _build(cfg, 'mmdet')
    assert attach_aux_losses(model) and attach_aux_losses(model)  # idempotent
    assert len(model._forward_hooks) == 1
    sample = DetDataSample(metainfo=dict(img_shape=(64, 64), pad_shape=(64, 64),
                                         scale_factor=(1., 1.)))
    sample.gt_instances = InstanceData(bboxes=torch.tensor([[4., 6., 40., 50.]]),
                                       labels=torch.tensor([3]))
    model.train()
    losses = model(torch.randn(1, 3, 64, 64), [sample], mode='loss')
    assert {'loss_cls', 'loss_bbox', 'loss_orth'} <= set(losses)
    assert torch.allclose(losses['loss_orth'], 0.5 * model.backbone.orthogonal_loss())
    # parse_losses sums and logs it like the model's own terms
    total, log_vars = model.parse_losses(losses)
    assert 'loss_orth' in log_vars
    total.backward()
    a = model.backbone.stages[0].blocks[0].colin1.project1.param_dict['A']
    assert a.grad is not None and a.grad.abs().sum() > 0
    # predict mode is untouched
    model.eval()
    with torch.no_grad():
        preds = model(torch.randn(1, 3, 64, 64), [sample], mode='predict')
    assert isinstance(preds, list)


def test_loss_orth_is_a_term_of_a_segmentors_loss_dict():
    from mmengine.structures import PixelData
    from mmseg.structures import SegDataSample
    cfg = Config.fromfile(
        osp.join(CONFIGS, 'colin/upernet_swin-l-colin_8xb2-160k_ade20k-512x512.py')).model
    cfg.backbone = _tiny_backbone()
    cfg.decode_head.update(in_channels=[32, 64], in_index=[0, 1], channels=16,
                           pool_scales=(1, 2))
    cfg.auxiliary_head.update(in_channels=64, in_index=1, channels=8)
    cfg.data_preprocessor.size = (64, 64)
    torch.manual_seed(0)
    model = _build(cfg, 'mmseg')
    attach_aux_losses(model)
    samples = []
    for _ in range(2):  # BatchNorm after the 1x1 pooling needs two images
        samples.append(SegDataSample(metainfo=dict(img_shape=(64, 64), pad_shape=(64, 64))))
        samples[-1].gt_sem_seg = PixelData(data=torch.randint(0, 150, (1, 64, 64)))
    model.train()
    losses = model(torch.randn(2, 3, 64, 64), samples, mode='loss')
    assert 'decode.loss_ce' in losses and 'aux.loss_ce' in losses
    assert torch.allclose(losses['loss_orth'], 0.5 * model.backbone.orthogonal_loss())
    assert torch.allclose(losses['loss_orth'], collect_aux_losses(model)['loss_orth'])


def test_loss_orth_is_a_term_of_a_rotated_detectors_loss_dict():
    from mmdet.structures import DetDataSample
    from mmengine.structures import InstanceData
    from mmrotate.structures import RotatedBoxes
    cfg = Config.fromfile(osp.join(CONFIGS, 'colin/h2rbox-v2-le90_swin-b-colin_fpn_1x_dota.py'))
    cfg = cfg.model
    cfg.backbone = _tiny_backbone()
    cfg.neck.update(in_channels=[32, 64], out_channels=16)
    cfg.bbox_head.update(in_channels=16, feat_channels=16, stacked_convs=1,
                         norm_cfg=dict(type='GN', num_groups=4, requires_grad=True))
    torch.manual_seed(0)
    model = _build(cfg, 'mmrotate')
    attach_aux_losses(model)
    sample = DetDataSample(metainfo=dict(img_shape=(96, 96), pad_shape=(96, 96)))
    sample.gt_instances = InstanceData(
        bboxes=RotatedBoxes(torch.tensor([[40., 50., 48., 20., 0.3]])), labels=torch.tensor([4]))
    model.train()
    losses = model(torch.randn(1, 3, 96, 96), [sample], mode='loss')
    assert 'loss_symmetry_ss' in losses
    assert torch.allclose(losses['loss_orth'], 0.5 * model.backbone.orthogonal_loss())


def test_official_detector_file_loads(tmp_path):
    """A file of the official CoLin code: a whole detector (``backbone.``-prefixed mmdet Swin
    keys), ``colin{1,2}`` modules with the duplicated ``project2.upProjection.*`` tensors."""
    torch.manual_seed(0)
    src = PEFTSwinTransformer(**TINY, method=dict(type='CoLin'))
    with torch.no_grad():
        for p in src.parameters():
            p.normal_()
    state = {}
    for k, v in src.state_dict().items():
        if k.startswith('norm'):
            continue
        state['backbone.' + k] = v
        if '.project1.' in k:  # the official project2 holds project1 as `upProjection`
            state['backbone.' + k.replace('.project1.', '.project2.upProjection.')] = v + 1
    state['neck.lateral_convs.0.conv.weight'] = torch.zeros(4, 32, 1, 1)
    torch.save({'state_dict': state, 'meta': {'epoch': 36}}, tmp_path / 'colin_det.pth')
    model = PEFTSwinTransformer(**TINY, method=dict(type='CoLin'), init_cfg=dict(
        type='Pretrained', checkpoint=str(tmp_path / 'colin_det.pth')))
    model.init_weights()
    own = model.state_dict()
    for k, v in src.state_dict().items():
        if not k.startswith('norm'):  # the output norms stay at identity (never loaded)
            assert torch.equal(own[k], v), k
    assert any('upProjection' in k for k in model.pretrained_report.notes['unused'])
    assert not any('upProjection' in k for k in own)
