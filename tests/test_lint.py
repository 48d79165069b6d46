"""`make lint` (ruff, configured in ruff.toml) passes on the whole tree."""
import subprocess
import sys

from e2e_utils import REPO


def test_ruff_passes_on_the_whole_tree():
    proc = subprocess.run([sys.executable, '-m', 'ruff', 'check', '--output-format', 'concise',
                           '.'], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
