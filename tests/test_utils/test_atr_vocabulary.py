"""The ATR vocabulary: one table, used under its names everywhere."""
import subprocess
import sys

from sapsam.utils.atr_vocabulary import (ATR_CLASSES, ATR_CROP_GROUPS,
                                         ATR_GROUP_NAMES, ATR_GROUP_PROMPTS,
                                         ATR_GROUPS, ATR_PART_GROUPS)


def test_groups_are_consistent():
    assert len(ATR_CLASSES) == 18
    assert len(set(ATR_GROUP_NAMES.values())) == len(ATR_GROUPS)
    for key, group in ATR_GROUPS.items():
        # Keyed by the first ATR id; the ground-truth ids are in the crop.
        assert ATR_CLASSES[int(key)] == group.name or key == '9'
        assert group.mask_ids[0] == int(key)
        assert set(group.mask_ids) <= set(group.crop_ids)
        assert all(0 < i < len(ATR_CLASSES) for i in group.crop_ids)
    for column in (ATR_GROUP_NAMES, ATR_PART_GROUPS, ATR_CROP_GROUPS,
                   ATR_GROUP_PROMPTS):
        assert list(column) == list(ATR_GROUPS)


def test_datasets_and_parts_use_the_vocabulary():
    from sapsam.datasets import ATRPhraseSegDataset
    from sapsam.datasets.synthetic import GROUP_LABELS
    from sapsam.parts import formats
    assert ATRPhraseSegDataset.METAINFO['group_names'] == ATR_GROUP_NAMES
    assert GROUP_LABELS is ATR_PART_GROUPS
    assert formats.ATR_CLASSES is ATR_CLASSES


def test_import_is_light():
    code = ('import sys\nimport sapsam.utils.atr_vocabulary\n'
            'heavy = [m for m in ("torch", "numpy", "mmengine") '
            'if m in sys.modules]\nassert not heavy, heavy\n')
    result = subprocess.run([sys.executable, '-c', code], capture_output=True,
                            text=True)
    assert result.returncode == 0, result.stderr[-2000:]
