"""Test helper imported by the distributed test configs (``custom_imports``).

``ShutdownProbeHook`` writes ``<work_dir>/shutdown_rank<rank>.json`` when the rank's interpreter
starts to exit (``atexit``: after ``tools/train.py`` returned from ``finish_distributed``, before
Python tears itself down), with

- ``gloo_threads``: the gloo threads still running then. There must be none: a gloo worker thread
  can still be letting go of a finished collective, which needs the GIL, and a thread that asks
  for the GIL during interpreter shutdown aborts the rank (``terminate called without an active
  exception``, exit -6) rarely and at random, mostly on a busy machine;
- ``rewrapped`` / ``wrapper_released``: whether ``runner.model`` at ``before_train`` is another
  object than the wrapper the runner built, and whether that one was freed by then (a wrapper
  ``FreezeBackboneHook`` replaced must not linger: its reducer holds the process group).
"""
import atexit
import json
import os
import os.path as osp
import weakref
from typing import List

from mmengine.hooks import Hook
from mmengine.registry import HOOKS


def gloo_threads() -> List[str]:
    """Names of this process's gloo threads (Linux)."""
    names = []
    for tid in os.listdir('/proc/self/task'):
        try:
            with open(f'/proc/self/task/{tid}/comm') as f:
                name = f.read().strip()
        except OSError:  # ended meanwhile
            continue
        if name.startswith(('pt_gloo', 'gloo')):
            names.append(name)
    return sorted(names)


@HOOKS.register_module(force=True)
class ShutdownProbeHook(Hook):
    """Record, per rank, how the run ends (see the module docstring)."""
    priority = 'HIGHEST'  # before_run before FreezeBackboneHook re-wraps the model

    def before_run(self, runner) -> None:
        self._built = weakref.ref(runner.model)
        self._result = dict(rank=runner.rank)
        atexit.register(self._write, osp.join(runner.work_dir, f'shutdown_rank{runner.rank}.json'))

    def before_train(self, runner) -> None:
        built = self._built()
        self._result.update(rewrapped=built is not runner.model, wrapper_released=built is None)

    def _write(self, path: str) -> None:
        self._result['gloo_threads'] = gloo_threads()
        with open(path, 'w') as f:
            json.dump(self._result, f)
