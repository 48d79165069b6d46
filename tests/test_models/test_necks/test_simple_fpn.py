"""SimpleFPN: ViTDet's pyramid from one plain-ViT map, for mmdet and mmseg."""
import pytest
import torch
import torch.nn.functional as F

from mmpeft.models.necks import LayerNorm2d, SimpleFPN


def test_levels_and_strides():
    neck = SimpleFPN([64], out_channels=32, num_outs=5)
    neck.init_weights()
    outs = neck((torch.randn(2, 64, 8, 12), ))
    assert [tuple(o.shape) for o in outs] == [(2, 32, 32, 48), (2, 32, 16, 24), (2, 32, 8, 12),
                                              (2, 32, 4, 6), (2, 32, 2, 3)]
    seg = SimpleFPN(64, out_channels=16, num_outs=4)
    assert len(seg(torch.randn(1, 64, 8, 8))) == 4


def test_function_against_the_vitdet_formula():
    """Each level: the scale op, a 1x1 and a 3x3 conv with channel LayerNorm; P6 subsamples P5."""
    torch.manual_seed(0)
    neck = SimpleFPN([16], out_channels=8).eval()
    x = torch.randn(1, 16, 6, 4)
    p = dict(neck.named_parameters())

    def ln(t, name):
        return F.layer_norm(t.permute(0, 2, 3, 1), (t.shape[1], ), p[f'{name}.weight'],
                            p[f'{name}.bias'], 1e-6).permute(0, 3, 1, 2)

    def level(t, i):
        t = ln(F.conv2d(t, p[f'lateral_convs.{i}.0.weight']), f'lateral_convs.{i}.1')
        return ln(F.conv2d(t, p[f'output_convs.{i}.0.weight'], padding=1), f'output_convs.{i}.1')

    up = F.conv_transpose2d(x, p['scales.0.0.weight'], p['scales.0.0.bias'], stride=2)
    up = F.conv_transpose2d(F.gelu(ln(up, 'scales.0.1')), p['scales.0.3.weight'],
                            p['scales.0.3.bias'], stride=2)
    want = [level(up, 0),
            level(F.conv_transpose2d(x, p['scales.1.weight'], p['scales.1.bias'], stride=2), 1),
            level(x, 2), level(F.max_pool2d(x, 2), 3)]
    want.append(want[-1][:, :, ::2, ::2])
    with torch.no_grad():
        for got, ref in zip(neck([x]), want):
            torch.testing.assert_close(got, ref)


def test_patch_14_maps_are_resampled_to_stride_16():
    """A stride-14 map of an image whose sides are multiples of 16 gives exactly side / 16 at
    the stride-16 level, pixel centres aligned (a linear ramp stays a ramp)."""
    neck = SimpleFPN([8], out_channels=8, in_stride=14)
    for h, w in ((1024, 1024), (512, 672), (800, 1216)):
        x = torch.randn(1, 8, -(-h // 14), -(-w // 14))  # the padded patch grid
        outs = neck(x)
        assert [tuple(o.shape[-2:]) for o in outs[:4]] == [(h // s, w // s) for s in (4, 8, 16,
                                                                                     32)]
    # the resampling maps pixel centre 16 j + 8 to the same image position on the 14-grid
    ramp = (torch.arange(74.) * 14 + 7).reshape(1, 1, 74, 1).expand(1, 1, 74, 74)
    resampled = F.interpolate(ramp, scale_factor=14 / 16, mode='bilinear',
                              align_corners=False, recompute_scale_factor=False)
    torch.testing.assert_close(resampled[0, 0, 1:-1, 0], torch.arange(1., 63.) * 16 + 8)


def test_registered_for_detection_and_segmentation_and_checks():
    from mmdet.registry import MODELS as DET
    from mmseg.registry import MODELS as SEG
    assert DET.get('SimpleFPN') is SimpleFPN and SEG.get('SimpleFPN') is SimpleFPN
    assert DET.get('LayerNorm2d') is LayerNorm2d  # norm_cfg=dict(type='LayerNorm2d') in heads
    with pytest.raises(ValueError, match='one map'):
        SimpleFPN([64, 64])
    with pytest.raises(ValueError, match='num_outs'):
        SimpleFPN([64], num_outs=3)
    with pytest.raises(ValueError, match='one map'):
        SimpleFPN([64])((torch.randn(1, 64, 4, 4), torch.randn(1, 64, 4, 4)))
