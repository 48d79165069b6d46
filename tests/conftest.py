import os.path as osp
import sys

# test helpers (e2e_utils, _swin_reference) are imported as top-level modules
sys.path.insert(0, osp.dirname(osp.abspath(__file__)))
