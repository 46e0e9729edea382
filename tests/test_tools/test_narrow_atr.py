"""tools/analysis/narrow_atr.py: the aspect probe's copy of ATR."""
import numpy as np
import pytest
from PIL import Image

from tests.helpers import load_script


def _atr(root, sizes):
    (root / 'JPEGImages').mkdir(parents=True)
    (root / 'SegmentationClassAug').mkdir()
    (root / 'atr_item_descriptions_test.json').write_text('[]')
    for k, (w, h) in enumerate(sizes):
        Image.new('RGB', (w, h), (200, 10, 10)).save(
            root / 'JPEGImages' / f'img_{k}.jpg')
        label = np.zeros((h, w), np.uint8)
        label[:, w // 2:] = 4
        Image.fromarray(label).save(root / 'SegmentationClassAug' /
                                    f'img_{k}.png')


def test_narrow_atr_resizes_images_and_labels_and_keeps_the_rest(tmp_path):
    tool = load_script('tools/analysis/narrow_atr.py')
    src, dst = tmp_path / 'atr', tmp_path / 'narrow'
    _atr(src, [(100, 200), (61, 150)])
    tool.main([str(src), str(dst), '--factor', '0.7'])
    assert (dst / 'atr_item_descriptions_test.json').read_text() == '[]'
    for k, (w, h) in enumerate([(70, 200), (43, 150)]):
        assert Image.open(dst / 'JPEGImages' / f'img_{k}.jpg').size == (w, h)
        label = np.asarray(Image.open(dst / 'SegmentationClassAug' /
                                      f'img_{k}.png'))
        assert label.shape == (h, w)
        assert set(np.unique(label)) == {0, 4}  # nearest: no new labels


def test_narrow_atr_names_an_image_without_labels(tmp_path):
    tool = load_script('tools/analysis/narrow_atr.py')
    src = tmp_path / 'atr'
    _atr(src, [(100, 200)])
    (src / 'SegmentationClassAug' / 'img_0.png').unlink()
    with pytest.raises(FileNotFoundError, match='img_0.jpg: no label map'):
        tool.main([str(src), str(tmp_path / 'out')])
