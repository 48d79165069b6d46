"""Merging window / patch detections (class-agnostic rotated NMS, IoU 0.4) and scoring the merged
whole-image result with DOTAMetric's evaluation: a hand-made case with a known mAP."""
import numpy as np
import pytest
import torch
from mmengine.structures import InstanceData

import mmpeft  # noqa: F401
from mmpeft.evaluation import PatchMergeDOTAMetric, merge_windows, parse_patch_id

CLASSES = ('ship', 'tank')
# whole image 'A' (DOTA lines): ship1 40x20 at (100, 100), ship2 40x20 at (700, 100), tank 30x30
# at (400, 400); whole image 'B': nothing
GT_A = ('80 90 120 90 120 110 80 110 ship 0\n'
        '680 90 720 90 720 110 680 110 ship 0\n'
        '385 385 415 385 415 415 385 415 tank 0\n')


def rbox(x, y, w, h):
    return [x, y, w, h, 0.0]


# patch detections in patch coordinates: (boxes, scores, labels)
PATCHES = {
    # window (0, 0): ship1 (0.9), the tank (0.8)
    'A__512__0___0': ([rbox(100, 100, 40, 20), rbox(400, 400, 30, 30)], [0.9, 0.8], [0, 1]),
    # window (400, 0): the tank again (0.7, a duplicate) and as a 'ship' (0.75: only a
    # class-agnostic NMS removes it), ship2 (0.6) and a false ship at (450, 300) (0.85)
    'A__512__400___0': ([rbox(0, 400, 30, 30), rbox(0, 400, 30, 30), rbox(300, 100, 40, 20),
                         rbox(50, 300, 40, 20)], [0.7, 0.75, 0.6, 0.85], [1, 0, 0, 0]),
}
# after the merge: ship 0.9 TP, 0.85 FP, 0.6 TP -> VOC07 11-point AP: precision 1 at recall
# 0..0.5 (6 points), 2/3 at 0.6..1.0 (5 points) = 28/33; tank 0.8 TP -> 1; mAP = (28/33 + 1) / 2
EXPECTED_MAP = (28 / 33 + 1) / 2


def samples():
    out = []
    for img_id, (boxes, scores, labels) in PATCHES.items():
        pred = InstanceData(bboxes=torch.tensor(boxes), scores=torch.tensor(scores),
                            labels=torch.tensor(labels))
        out.append(dict(img_id=img_id, pred_instances=pred))
    return out


@pytest.fixture(autouse=True)
def fork_pool(monkeypatch):
    """mmrotate's eval_rbbox_map computes TP/FP in a 'spawn' process pool, whose children cannot
    start inside a pytest process (they hang importing its __main__); a 'fork' pool runs the
    same functions on the same data."""
    import multiprocessing

    from mmrotate.evaluation.functional import mean_ap
    monkeypatch.setattr(mean_ap, 'get_context', lambda method: multiprocessing.get_context('fork'))


@pytest.fixture
def gt_dir(tmp_path):
    d = tmp_path / 'annfiles'
    d.mkdir()
    (d / 'A.txt').write_text(GT_A)
    (d / 'B.txt').write_text('')
    return str(d)


def metric_for(gt_dir, **kw):
    metric = PatchMergeDOTAMetric(gt_ann_dir=gt_dir, **kw)
    metric.dataset_meta = dict(classes=CLASSES)
    return metric


def test_merge_then_score_gives_the_known_map(gt_dir):
    metric = metric_for(gt_dir)
    metric.process({}, samples())
    result = metric.evaluate(len(PATCHES))  # the number of patch samples
    assert result['dota/mAP'] == pytest.approx(EXPECTED_MAP, abs=1e-6), result
    assert result['dota/AP50'] == round(EXPECTED_MAP, 3)


def test_merge_is_class_agnostic_and_shifts_to_the_image(gt_dir):
    merged = metric_for(gt_dir).merge([
        dict(img_id=k, bboxes=np.array(b, np.float32), scores=np.array(s, np.float32),
             labels=np.array(lab)) for k, (b, s, lab) in PATCHES.items()])
    boxes, scores, labels = merged['A']
    assert sorted(scores.tolist()) == pytest.approx([0.6, 0.8, 0.85, 0.9])
    order = np.argsort(-scores)
    assert labels[order].tolist() == [0, 0, 1, 0]
    np.testing.assert_allclose(boxes[order][:, :2], [[100, 100], [450, 300], [400, 400],
                                                     [700, 100]])


def test_without_suppression_the_duplicates_cost_ap(gt_dir):
    """The same detections merged with an IoU threshold above 1 (nothing suppressed): the 'ship'
    on the tank (0.75) is a false positive (ship: TP, FP, FP, TP -> 11-point AP 8.5/11) and the
    duplicate tank comes after its match (tank AP stays 1): the merge is what is scored."""
    metric = metric_for(gt_dir, merge_iou_thr=1.5)
    metric.process({}, samples())
    result = metric.evaluate(len(PATCHES))
    assert result['dota/mAP'] == pytest.approx((8.5 / 11 + 1) / 2, abs=1e-6), result


def test_merge_windows_runs_nms_per_window_then_over_all():
    a = (torch.tensor([rbox(10, 10, 8, 8), rbox(11, 10, 8, 8)]), torch.tensor([0.9, 0.5]),
         torch.tensor([0, 1]))
    b = (torch.tensor([rbox(0, 10, 8, 8)]), torch.tensor([0.95]), torch.tensor([1]))
    boxes, scores, labels = merge_windows([a, b], [(0, 0), (10, 0)], iou_thr=0.4)
    assert scores.tolist() == pytest.approx([0.95]) and labels.tolist() == [1]
    assert boxes[0, :2].tolist() == [10, 10]
    empty = merge_windows([(torch.zeros(0, 5), torch.zeros(0), torch.zeros(0, dtype=torch.long))],
                          [(5, 5)])
    assert empty[0].shape == (0, 5)


def test_bad_input_is_named(gt_dir, tmp_path):
    assert parse_patch_id('P0003__1024__824___0') == ('P0003', 824, 0)
    with pytest.raises(ValueError, match='not a patch name'):
        parse_patch_id('P0003')
    with pytest.raises(FileNotFoundError, match='gt_ann_dir'):
        PatchMergeDOTAMetric(gt_ann_dir=str(tmp_path / 'missing'))
    with pytest.raises(ValueError, match='merge_patches'):
        PatchMergeDOTAMetric(gt_ann_dir=gt_dir, merge_patches=True)
    metric = metric_for(gt_dir)
    metric.process({}, [dict(img_id='C__512__0___0', pred_instances=InstanceData(
        bboxes=torch.zeros(0, 5), scores=torch.zeros(0), labels=torch.zeros(0).long()))])
    with pytest.raises(ValueError, match='without an annotation file'):
        metric.evaluate(1)
