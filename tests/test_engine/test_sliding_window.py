"""Whole-image inference window by window from the file: the window layout of the reference, the
reader (PNG decode or .npy memory map, mean padding), and a tiny STAR H2RBox-v2 predicting a
synthetic image larger than a window exactly as it predicts each window on its own."""
import os.path as osp

import cv2
import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.registry import DefaultScope, init_default_scope

import mmpeft  # noqa: F401
from mmpeft.datasets import WindowReader, sliding_windows
from mmpeft.engine import predict_sliding, predict_windows, window_layout
from mmpeft.engine.sliding_window import mean_pad_value
from mmpeft.evaluation import agnostic_nms, merge_windows
from mmpeft.testing import make_star

from e2e_utils import CONFIGS, random_weights, tiny_backbone

MONA = 'h2rbox_v2/h2rbox-v2-le90_swin-b-mona_fpn_1x_star.py'


@pytest.fixture(scope='module')
def tiny_model():
    """The STAR Mona config with a tiny random Swin, narrow neck/head and every score kept."""
    cfg = Config.fromfile(osp.join(CONFIGS, MONA)).model
    tiny, dims = tiny_backbone(cfg.backbone.type)
    cfg.backbone.update(tiny)
    cfg.backbone.init_cfg = None
    cfg.neck.update(in_channels=[dims[i] for i in cfg.backbone.out_indices], out_channels=32)
    cfg.bbox_head.update(in_channels=32, feat_channels=32, stacked_convs=1,
                         norm_cfg=dict(type='GN', num_groups=8, requires_grad=True))
    cfg.test_cfg.update(score_thr=0.0, nms_pre=100, max_per_img=50)
    init_default_scope('mmrotate')
    from mmrotate.registry import MODELS
    with DefaultScope.overwrite_default_scope('mmrotate'):
        model = MODELS.build(cfg)
    return random_weights(model, seed=1)


@pytest.fixture(scope='module')
def images(tmp_path_factory):
    root = str(tmp_path_factory.mktemp('star'))
    make_star(root, num_train=1, num_val=1, img_size=64, test_img_size=(160, 128))
    return dict(small=osp.join(root, 'train', 'images', 'S0000.png'),
                large=osp.join(root, 'test', 'images', 'S5000.png'))


def predict_crop(model, pixels: np.ndarray):
    """The model on one BGR window, packed as mmdet's LoadImageFromFile + PackDetInputs do."""
    from mmcv.transforms import Compose
    with DefaultScope.overwrite_default_scope('mmrotate'):
        pipeline = Compose([dict(type='mmdet.PackDetInputs',
                                 meta_keys=('img_shape', 'ori_shape', 'scale_factor'))])
    h, w = pixels.shape[:2]
    data = pipeline(dict(img=pixels, img_shape=(h, w), ori_shape=(h, w), scale_factor=(1., 1.)))
    with torch.no_grad():
        pred = model.test_step(dict(inputs=[data['inputs']],
                                    data_samples=[data['data_samples']]))[0].pred_instances
    boxes = pred.bboxes.tensor if hasattr(pred.bboxes, 'tensor') else pred.bboxes
    return boxes, pred.scores, pred.labels


def test_window_layout_is_the_references():
    # 160 x 128, windows of 64 every 48: x 0/48/96, y 0/48 and the last moved back to 64
    wins = sliding_windows(160, 128, 64, 16)
    assert wins[:, 0].tolist() == [0, 0, 0, 48, 48, 48, 96, 96, 96]
    assert wins[:, 1].tolist() == [0, 48, 64] * 3
    assert (wins[:, 2:] - wins[:, :2] == 64).all()
    # STAR-MMRotate: 1024 windows, overlap 200 over a 27,860 x 31,096 scene (padded to /64)
    big = window_layout(27_860, 31_096, 1024, 200, 0.6, 64)
    assert len(big) == 34 * 38 and big[:, 2].max() == 27_904 and big[:, 3].max() == 31_104
    # an image smaller than the window: one window, kept although it covers < 60 %
    assert sliding_windows(50, 40, 64, 16).tolist() == [[0, 0, 64, 64]]
    with pytest.raises(ValueError, match='overlap'):
        sliding_windows(100, 100, 64, 64)


def test_reader_pads_with_the_mean_and_memory_maps_npy(images, tmp_path, tiny_model):
    img = cv2.imread(images['large'])
    npy = str(tmp_path / 'large.npy')
    np.save(npy, img)
    png_reader, npy_reader = WindowReader(images['large']), WindowReader(npy)
    assert npy_reader.memory_mapped and npy_reader.image is None
    pad = mean_pad_value(tiny_model)
    assert pad == [104, 116, 124]  # round(ImageNet mean), BGR as the loaded image
    win = (128, 96, 192, 160)  # sticks out 32 px right and bottom
    for reader in (png_reader, npy_reader):
        out = reader.read(win, pad_value=pad)
        assert out.shape == (64, 64, 3)
        np.testing.assert_array_equal(out[:32, :32], img[96:128, 128:160])
        assert (out[32:] == pad).all() and (out[:, 32:] == pad).all()
    with pytest.raises(ValueError, match='does not start inside'):
        png_reader.read((160, 0, 224, 64))
    bad = tmp_path / 'bad.png'
    bad.write_bytes(b'not a png')
    with pytest.raises(ValueError, match='corrupt'):
        WindowReader(str(bad))


def test_one_window_equals_the_whole_image(images, tiny_model):
    """A 64 px image with 64 px windows: the sliding path is the model on the image."""
    merged = predict_sliding(tiny_model, images['small'], window=64, overlap=16,
                             pad_size_divisor=32)
    ref = agnostic_nms(*predict_crop(tiny_model, cv2.imread(images['small'])), iou_thr=0.4)
    assert len(ref[0]) > 0
    torch.testing.assert_close(merged.bboxes.tensor, ref[0])
    torch.testing.assert_close(merged.scores, ref[1])
    assert torch.equal(merged.labels, ref[2])


def test_windows_of_a_larger_image_equal_single_window_inference(images, tiny_model):
    """160 x 128 image, 9 overlapping 64 px windows read from the file, 4 per forward: each
    window's detections equal the model run on that crop alone, and the merged result is their
    class-agnostic NMS in image coordinates."""
    img = cv2.imread(images['large'])
    reader = WindowReader(images['large'])
    windows = window_layout(reader.width, reader.height, 64, 16, 0.6, 32)
    assert len(windows) == 9
    dets = predict_windows(tiny_model, reader, windows, batch_size=4)
    singles = []
    for (x0, y0, x1, y1), got in zip(windows, dets):
        ref = predict_crop(tiny_model, np.ascontiguousarray(img[y0:y1, x0:x1]))
        singles.append(ref)
        assert len(ref[0]) > 0
        torch.testing.assert_close(got[0], ref[0], rtol=1e-4, atol=1e-3)
        torch.testing.assert_close(got[1], ref[1], rtol=1e-4, atol=1e-5)
        assert torch.equal(got[2], ref[2])
    offsets = [(int(w[0]), int(w[1])) for w in windows]
    merged = predict_sliding(tiny_model, images['large'], window=64, overlap=16,
                             pad_size_divisor=32)
    ref = merge_windows(singles, offsets, iou_thr=0.4)
    torch.testing.assert_close(merged.bboxes.tensor, ref[0], rtol=1e-4, atol=1e-3)
    torch.testing.assert_close(merged.scores, ref[1], rtol=1e-4, atol=1e-5)
    # every merged box is one of a window's boxes moved by that window's corner
    centres = merged.bboxes.tensor[:, :2]
    assert centres[:, 0].max() > 64 and centres[:, 1].max() > 64


def test_npy_copy_gives_the_same_prediction(images, tiny_model, tmp_path):
    """tools/dataset_converters/images_to_npy.py writes what cv2 decodes; windows memory-mapped
    from it give exactly the PNG path's detections."""
    from e2e_utils import python_tool
    out = python_tool('dataset_converters/images_to_npy.py', osp.dirname(images['large']),
                      str(tmp_path / 'npy'))
    assert out.returncode == 0 and '[1/1] S5000: 160 x 128' in out.stdout, out.stderr
    kw = dict(window=64, overlap=16, pad_size_divisor=32)
    png = predict_sliding(tiny_model, images['large'], **kw)
    npy = predict_sliding(tiny_model, str(tmp_path / 'npy' / 'S5000.npy'), **kw)
    assert torch.equal(png.bboxes.tensor, npy.bboxes.tensor)
    assert torch.equal(png.scores, npy.scores) and torch.equal(png.labels, npy.labels)
