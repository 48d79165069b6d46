"""STAR (arXiv 2406.09410), the rotated-box detection part, for mmrotate 1.x.

The annotations are DOTA-v1 style (one ``.txt`` per ``.png``, lines ``x1 y1 ... x4 y4 class
difficulty``), so :class:`STARDataset` is mmrotate's ``DOTADataset`` with STAR's classes and
palette, in the order of STAR-MMRotate's ``STARDataset`` (the label of a class is its index).
"""
from typing import List, Tuple

from mmrotate.datasets import DOTADataset

from mmpeft.registry import register_rotated

#: The 48 STAR classes; a label is its index here (STAR-MMRotate ``mmrotate/datasets/star.py``).
STAR_CLASSES: Tuple[str, ...] = (
    'ship', 'boat', 'crane', 'goods_yard', 'tank', 'storehouse', 'breakwater', 'dock', 'airplane',
    'boarding_bridge', 'runway', 'taxiway', 'terminal', 'apron', 'gas_station', 'truck', 'car',
    'truck_parking', 'car_parking', 'bridge', 'cooling_tower', 'chimney', 'vapor', 'smoke',
    'genset', 'coal_yard', 'lattice_tower', 'substation', 'wind_mill', 'cement_concrete_pavement',
    'toll_gate', 'flood_dam', 'gravity_dam', 'ship_lock', 'ground_track_field',
    'basketball_court', 'engineering_vehicle', 'foundation_pit', 'intersection',
    'soccer_ball_field', 'tennis_court', 'tower_crane', 'unfinished_building', 'arch_dam',
    'roundabout', 'baseball_diamond', 'stadium', 'containment_vessel')

#: One RGB colour per class (STAR-MMRotate's palette).
STAR_PALETTE: List[Tuple[int, int, int]] = [
    (165, 42, 42), (189, 183, 107), (0, 255, 0), (255, 0, 0), (138, 43, 226), (255, 128, 0),
    (255, 0, 255), (0, 255, 255), (255, 193, 193), (0, 51, 153), (255, 250, 205), (0, 139, 139),
    (255, 255, 0), (147, 116, 116), (0, 0, 255), (209, 99, 106), (5, 121, 0), (227, 255, 205),
    (147, 186, 208), (153, 69, 1), (3, 95, 161), (163, 255, 0), (119, 0, 170), (0, 182, 199),
    (0, 165, 120), (183, 130, 88), (95, 32, 0), (130, 114, 135), (110, 129, 133), (166, 74, 118),
    (219, 142, 185), (79, 210, 114), (178, 90, 62), (65, 70, 15), (127, 167, 115), (59, 105, 106),
    (142, 108, 45), (196, 172, 0), (95, 54, 80), (128, 76, 255), (201, 57, 1), (246, 0, 122),
    (191, 162, 208), (166, 196, 102), (208, 195, 210), (255, 109, 65), (0, 143, 149),
    (179, 0, 194)]

#: STAR's rotation-agnostic ("square") classes in STAR-MMRotate's v2p configs ([4, 44]).
STAR_ROTATION_AGNOSTIC: Tuple[str, ...] = ('tank', 'roundabout')


@register_rotated('DATASETS')
class STARDataset(DOTADataset):
    """STAR in the DOTA layout: ``ann_file`` is a folder of ``.txt`` files, ``data_prefix``'s
    ``img_path`` the folder of the ``.png`` images of the same names.

    ``img_shape`` is what mmrotate's ``DOTADataset`` records as every image's size (1024 x 1024
    patches by default); the whole test images differ in size, and the sliding-window loops read
    each size from the file instead.
    """

    METAINFO = dict(classes=STAR_CLASSES, palette=STAR_PALETTE)

    def load_data_list(self) -> List[dict]:
        try:
            return super().load_data_list()
        except KeyError as e:  # DOTADataset indexes its class map with the file's class name
            raise ValueError(f'{self.ann_file} names a class that is not one of the '
                             f'{len(self.metainfo["classes"])} classes of this dataset: {e}. '
                             f'Classes: {self.metainfo["classes"]}') from None
