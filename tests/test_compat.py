"""The compatibility layer: safe checkpoint loading, mmrotate on mmdet 3.3, CPU distributed."""
import copy
import os
import os.path as osp
import subprocess
import sys

import pytest
import torch

import mmpeft  # noqa: F401
from mmpeft import compat

from e2e_utils import free_port

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))


class Gadget:
    """An arbitrary picklable object that must never be unpickled silently."""

    def __init__(self) -> None:
        self.payload = 42


def test_mmcv_has_compiled_ops():
    from mmcv.ops import nms
    boxes = torch.tensor([[0, 0, 10, 10], [1, 1, 10, 10], [50, 50, 60, 60]], dtype=torch.float32)
    scores = torch.tensor([0.9, 0.8, 0.7])
    dets, keep = nms(boxes, scores, iou_threshold=0.5)
    assert keep.tolist() == [0, 2]


def test_arbitrary_pickled_object_is_refused(tmp_path, monkeypatch):
    from mmengine.runner.checkpoint import CheckpointLoader
    monkeypatch.delenv(compat.UNSAFE_ENV, raising=False)
    path = str(tmp_path / 'evil.pth')
    torch.save({'state_dict': {'w': torch.ones(2)}, 'extra': Gadget()}, path)
    with pytest.raises(compat.UnsafeCheckpointError) as err:
        CheckpointLoader.load_checkpoint(path, map_location='cpu')
    msg = str(err.value)
    assert 'Gadget' in msg and compat.UNSAFE_ENV in msg and path in msg
    # explicit opt-in loads it
    monkeypatch.setenv(compat.UNSAFE_ENV, '1')
    ckpt = CheckpointLoader.load_checkpoint(path, map_location='cpu')
    assert ckpt['extra'].payload == 42


def test_missing_checkpoint_names_the_path(tmp_path):
    from mmengine.runner.checkpoint import CheckpointLoader
    missing = str(tmp_path / 'nope.pth')
    with pytest.raises(FileNotFoundError, match='nope.pth'):
        CheckpointLoader.load_checkpoint(missing)


def test_plain_weights_load_without_opt_in(tmp_path, monkeypatch):
    from mmengine.runner.checkpoint import CheckpointLoader
    monkeypatch.delenv(compat.UNSAFE_ENV, raising=False)
    path = str(tmp_path / 'w.pth')
    torch.save({'model': {'a': torch.arange(3)}}, path)
    assert CheckpointLoader.load_checkpoint(path)['model']['a'].tolist() == [0, 1, 2]


def test_runner_checkpoint_resume_with_weights_only(tmp_path, monkeypatch):
    """Train a toy model 4 iterations, resume from its checkpoint and continue to 6."""
    from mmengine.runner import Runner
    from mmengine.testing.runner_test_case import RunnerTestCase
    monkeypatch.delenv('TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD', raising=False)
    monkeypatch.delenv(compat.UNSAFE_ENV, raising=False)
    case = RunnerTestCase()
    case.setUp()
    try:
        cfg = copy.deepcopy(case.iter_based_cfg)
        cfg.work_dir = str(tmp_path)
        cfg.train_cfg.max_iters = 4
        cfg.train_cfg.val_interval = 100
        cfg.default_hooks.checkpoint = dict(type='CheckpointHook', interval=2, by_epoch=False)
        cfg.experiment_name = 'first'
        runner = Runner.from_cfg(cfg)
        runner.train()
        ckpt = osp.join(str(tmp_path), 'iter_4.pth')
        assert osp.isfile(ckpt)
        # the runner's checkpoint really needs the allow-list: without it torch refuses it
        saved = torch.serialization.get_safe_globals()
        torch.serialization.clear_safe_globals()
        try:
            with pytest.raises(Exception, match='HistoryBuffer'):
                torch.load(ckpt, weights_only=True)
        finally:
            torch.serialization.add_safe_globals(saved)

        cfg2 = copy.deepcopy(cfg)
        cfg2.train_cfg.max_iters = 6
        cfg2.experiment_name = 'resumed'
        cfg2.resume = True
        cfg2.load_from = ckpt
        runner2 = Runner.from_cfg(cfg2)
        runner2.train()
        assert runner2.iter == 6
        assert osp.isfile(osp.join(str(tmp_path), 'iter_6.pth'))
        before = torch.load(ckpt, weights_only=True)['state_dict']
        after = torch.load(osp.join(str(tmp_path), 'iter_6.pth'), weights_only=True)
        assert after['meta']['iter'] == 6
        assert any(not torch.equal(before[k], after['state_dict'][k]) for k in before)
    finally:
        case.tearDown()


def test_runner_checkpoint_loads_in_a_fresh_process(tmp_path):
    """No HistoryBuffer exists yet in a new interpreter; its checkpoint must still load."""
    from mmengine.logging import HistoryBuffer
    path = str(tmp_path / 'hb.pth')
    buf = HistoryBuffer()
    buf.update(1.5)
    torch.save({'message_hub': {'log_scalars': {'loss': buf}}}, path)
    code = ('import mmpeft; from mmengine.runner.checkpoint import CheckpointLoader; '
            f'c = CheckpointLoader.load_checkpoint({path!r}); '
            "print(c['message_hub']['log_scalars']['loss'].current())")
    out = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True,
                         env=dict(os.environ, PYTHONPATH=REPO), timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.strip().splitlines()[-1] == '1.5'


def test_getattr_in_checkpoints_is_limited(tmp_path):
    """``getattr`` is only honoured for HistoryBuffer's statistic methods."""
    import pickle as pkl

    class Sneaky:
        def __reduce__(self):
            return (getattr, (torch.nn.Module, 'parameters'))

    path = str(tmp_path / 'sneaky.pth')
    torch.save({'x': Sneaky()}, path, pickle_protocol=pkl.DEFAULT_PROTOCOL)
    with pytest.raises(Exception, match='not allowed|refusing'):
        compat.load_checkpoint_file(path)


def test_mmrotate_imports_and_shims_are_undone():
    import collections

    import mmdet
    import mmrotate  # noqa: F401
    from mmrotate.registry import MODELS
    assert mmdet.__version__ == '3.3.0'
    if sys.version_info >= (3, 10):
        assert not hasattr(collections, 'Sequence')
    assert MODELS.get('OrientedRPNHead') is not None  # registered eagerly by the compat layer


def test_oriented_rcnn_config_builds_and_computes_loss(tmp_path):
    from mmdet.structures import DetDataSample
    from mmengine.config import Config
    from mmengine.registry import init_default_scope
    from mmengine.structures import InstanceData
    from mmrotate.registry import MODELS
    from mmrotate.structures.bbox import RotatedBoxes

    cfg_file = tmp_path / 'oriented_rcnn.py'
    cfg_file.write_text(
        "_base_ = 'mmrotate::oriented_rcnn/oriented-rcnn-le90_r50_fpn_1x_dota.py'\n")
    cfg = Config.fromfile(str(cfg_file))
    init_default_scope('mmrotate')
    cfg.model.backbone.init_cfg = None
    cfg.model.backbone.depth = 18
    cfg.model.neck.in_channels = [64, 128, 256, 512]
    model = MODELS.build(cfg.model)
    torch.manual_seed(0)
    imgs = torch.randint(0, 255, (1, 3, 128, 128), dtype=torch.uint8)
    sample = DetDataSample(metainfo=dict(img_shape=(128, 128), ori_shape=(128, 128),
                                         pad_shape=(128, 128), scale_factor=(1.0, 1.0)))
    gt = InstanceData()
    gt.bboxes = RotatedBoxes(torch.tensor([[40., 40., 30., 16., 0.3], [90., 80., 20., 40., -0.5]]))
    gt.labels = torch.tensor([0, 5])
    sample.gt_instances = gt
    sample.ignored_instances = InstanceData(bboxes=RotatedBoxes(torch.zeros(0, 5)),
                                            labels=torch.zeros(0, dtype=torch.long))
    data = model.data_preprocessor(dict(inputs=[imgs[0]], data_samples=[sample]), True)
    losses = model.loss(data['inputs'], data['data_samples'])
    total, _ = model.parse_losses(losses)
    assert {'loss_rpn_cls', 'loss_cls', 'loss_bbox'} <= set(losses)
    assert torch.isfinite(total) and total.item() > 0


def test_cpu_distributed_init_uses_gloo(tmp_path):
    """init_dist('pytorch') on a CPU-only machine creates a gloo group instead of crashing."""
    script = tmp_path / 'dist.py'
    script.write_text(
        'import mmpeft, torch, torch.distributed as dist\n'
        'from mmengine.dist import init_dist\n'
        "init_dist('pytorch', backend='nccl')\n"
        "t = torch.ones(1) * (dist.get_rank() + 1)\n"
        'dist.all_reduce(t)\n'
        "import sys\n"
        "open(sys.argv[1] + str(dist.get_rank()), 'w')"
        ".write(f'{dist.get_backend()} {int(t.item())}')\n"
        'dist.destroy_process_group()\n')
    env = dict(os.environ, PYTHONPATH=REPO)
    out = subprocess.run(
        [sys.executable, '-m', 'torch.distributed.run', '--nproc_per_node=2',
         f'--master_port={free_port()}', str(script), str(tmp_path / 'rank')],
        capture_output=True, text=True, env=env, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    for rank in (0, 1):
        assert (tmp_path / f'rank{rank}').read_text() == 'gloo 3'


class Payload:
    """Unpickling it would create a marker file."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, 'w'))


def test_corrupt_files_are_told_apart_from_unsafe_ones(tmp_path, monkeypatch):
    """Broken or foreign files are CorruptCheckpointError (with the path, never the advice to turn
    the safety check off); files with pickled code stay UnsafeCheckpointError, and no payload
    runs."""
    import pickle as pkl

    from mmengine.runner.checkpoint import CheckpointLoader
    monkeypatch.delenv(compat.UNSAFE_ENV, raising=False)
    good = tmp_path / 'good.pth'
    torch.save({'w': torch.ones(3)}, good)
    legacy = tmp_path / 'legacy.pth'
    torch.save({'w': torch.ones(3)}, legacy, _use_new_zipfile_serialization=False)
    marker = str(tmp_path / 'PWNED')
    files = {
        'empty.pth': b'',
        'random.pth': bytes((i * 97 + 13) % 256 for i in range(2000)),
        'plain.pkl': pkl.dumps({'w': [1, 2, 3]}),
        'truncated.pth': good.read_bytes()[:len(good.read_bytes()) // 2],
        'truncated_legacy.pth': legacy.read_bytes()[:len(legacy.read_bytes()) // 2],
        'evil_plain.pkl': pkl.dumps(Payload(marker)),
    }
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
    torch.save({'w': torch.ones(1), 'x': Payload(marker)}, tmp_path / 'evil.pth')
    torch.save({'w': torch.ones(1), 'x': Payload(marker)}, tmp_path / 'evil_legacy.pth',
               _use_new_zipfile_serialization=False)
    torch.jit.save(torch.jit.script(torch.nn.Linear(2, 2)), str(tmp_path / 'script.pt'))

    corrupt = {'empty.pth': 'the file is empty', 'random.pth': 'not a PyTorch checkpoint',
               'plain.pkl': 'a plain pickle', 'truncated.pth': 'truncated or damaged',
               'truncated_legacy.pth': 'truncated or damaged', 'script.pt': 'TorchScript'}
    for name, what in corrupt.items():
        path = str(tmp_path / name)
        for load in (compat.load_checkpoint_file, CheckpointLoader.load_checkpoint):
            with pytest.raises(compat.CorruptCheckpointError) as err:
                load(path)
            assert path in str(err.value) and what in str(err.value), (name, str(err.value))
            assert compat.UNSAFE_ENV not in str(err.value)
    for name in ('evil.pth', 'evil_legacy.pth', 'evil_plain.pkl'):
        with pytest.raises(compat.UnsafeCheckpointError, match=r'builtins\.open|io\.open'):
            compat.load_checkpoint_file(str(tmp_path / name))
    assert not os.path.exists(marker)
    assert compat.load_checkpoint_file(str(legacy))['w'].tolist() == [1.0, 1.0, 1.0]
