"""TBPR dataset parsing on small files in each official format."""
import json
import os.path as osp

import numpy as np
import pytest
from PIL import Image

from sapsam.datasets import (CUHKPEDES, ICFGPEDES, AnnotationError, RSTPReid)


def _write_image(path):
    import os
    os.makedirs(osp.dirname(path), exist_ok=True)
    Image.fromarray(np.zeros((20, 8, 3), np.uint8)).save(path)


def _make(root, name, records, image_key):
    with open(osp.join(root, name), 'w') as f:
        json.dump(records, f)
    for rec in records:
        _write_image(osp.join(root, 'imgs', rec[image_key]))
    return root


CUHK_RECORDS = [
    dict(split='train', captions=['a man in red.', 'red coat man'],
         file_path='CUHK01/0001.png', processed_tokens=[['a'], ['b']], id=1),
    dict(split='train', captions=['a woman in blue.'],
         file_path='CUHK01/0002.png', processed_tokens=[['a']], id=2),
    dict(split='train', captions=['same woman, blue.', 'blue', 'third'],
         file_path='CUHK03/0003.png', processed_tokens=[[], [], []], id=2),
    dict(split='test', captions=['test person one', 'one again'],
         file_path='test/0004.png', processed_tokens=[[], []], id=7),
    dict(split='test', captions=['test person two'],
         file_path='test/0005.png', processed_tokens=[[]], id=9),
    dict(split='val', captions=['val one'], file_path='val/0006.png',
         processed_tokens=[[]], id=11),
]


@pytest.fixture
def cuhk_root(tmp_path):
    return _make(str(tmp_path), 'reid_raw.json', CUHK_RECORDS, 'file_path')


def test_cuhk_train_is_caption_level_with_irra_pids(cuhk_root):
    ds = CUHKPEDES(cuhk_root, split='train')
    assert len(ds) == 6  # 2 + 1 + 3 captions
    infos = [ds.get_data_info(i) for i in range(len(ds))]
    assert [d['pid'] for d in infos] == [0, 0, 1, 1, 1, 1]  # id - 1
    assert [d['image_id'] for d in infos] == [0, 0, 1, 2, 2, 2]
    assert [d['caption_idx'] for d in infos] == list(range(6))
    assert infos[0]['caption'] == 'a man in red.'
    assert infos[3]['img_path'] == osp.join(cuhk_root, 'imgs',
                                            'CUHK03/0003.png')
    assert ds.num_classes == 2
    assert ds.metainfo['num_classes'] == 2


def test_cuhk_test_views_keep_raw_ids(cuhk_root):
    gallery = CUHKPEDES(cuhk_root, split='test')
    queries = CUHKPEDES(cuhk_root, split='test', view='captions')
    assert [gallery.get_data_info(i)['pid'] for i in range(len(gallery))] \
        == [7, 9]
    assert [queries.get_data_info(i)['pid'] for i in range(len(queries))] \
        == [7, 7, 9]
    assert 'img_path' not in queries.get_data_info(0)
    val = CUHKPEDES(cuhk_root, split='val', view='captions')
    assert len(val) == 1 and val.get_data_info(0)['pid'] == 11


def test_icfg_and_rstp_formats(tmp_path):
    icfg = [dict(id=0, file_path='train/0001/a.jpg', captions=['x y'],
                 processed_tokens=[['x', 'y']], split='train'),
            dict(id=1, file_path='train/0002/b.jpg', captions=['z'],
                 processed_tokens=[['z']], split='train'),
            dict(id=5, file_path='test/0005/c.jpg', captions=['t'],
                 processed_tokens=[['t']], split='test')]
    (tmp_path / 'icfg').mkdir()
    root = _make(str(tmp_path / 'icfg'), 'ICFG-PEDES.json', icfg, 'file_path')
    ds = ICFGPEDES(root, split='train')
    assert [ds.get_data_info(i)['pid'] for i in range(2)] == [0, 1]
    with pytest.raises(ValueError, match='no .val. split'):
        ICFGPEDES(root, split='val')

    rstp = [dict(id=0, img_path='0000_c1_0001.jpg', captions=['a', 'b'],
                 split='train'),
            dict(id=3, img_path='0003_c2_0001.jpg', captions=['c', 'd'],
                 split='test')]
    (tmp_path / 'rstp').mkdir()
    root = _make(str(tmp_path / 'rstp'), 'data_captions.json', rstp,
                 'img_path')
    ds = RSTPReid(root, split='train')
    assert len(ds) == 2 and ds.get_data_info(1)['caption'] == 'b'
    assert RSTPReid(root, split='test', view='captions').get_data_info(0)[
        'pid'] == 3


def test_val_from_train_holds_out_identities(tmp_path):
    records = [dict(id=i, file_path=f'train/{i}.jpg', captions=[f'c{i}'],
                    processed_tokens=[[]], split='train') for i in range(5)]
    root = _make(str(tmp_path), 'ICFG-PEDES.json', records, 'file_path')
    train = ICFGPEDES(root, split='train', val_from_train=2)
    val = ICFGPEDES(root, split='val', view='images', val_from_train=2)
    assert sorted({train.get_data_info(i)['pid']
                   for i in range(len(train))}) == [0, 1, 2]
    assert [val.get_data_info(i)['pid'] for i in range(len(val))] == [3, 4]


@pytest.mark.parametrize('mutate, match', [
    (lambda recs: recs[1].pop('captions'), r"record 1 lacks key\(s\) \['captions'\]"),
    (lambda recs: recs[2].update(split='trian'), r"record 2 has unknown split 'trian'"),
    (lambda recs: recs[0].update(captions=[]), r'record 0 .*non-empty list'),
    (lambda recs: recs[0].update(captions=['ok', '  ']), r'record 0 .*non-empty'),
    (lambda recs: recs[3].update(id='7'), r'record 3 has a non-integer id'),
    (lambda recs: recs[0].update(img_path=recs[0].pop('file_path')),
     r"record 0 lacks key.*'file_path'.*it has 'img_path'"),
])
def test_bad_records_name_file_and_record(tmp_path, mutate, match):
    records = json.loads(json.dumps(CUHK_RECORDS))
    _make(str(tmp_path), 'reid_raw.json', CUHK_RECORDS, 'file_path')
    mutate(records)
    with open(tmp_path / 'reid_raw.json', 'w') as f:
        json.dump(records, f)
    with pytest.raises(AnnotationError, match=match) as err:
        CUHKPEDES(str(tmp_path), split='train')
    assert 'reid_raw.json' in str(err.value)


def test_malformed_json_names_file_and_position(tmp_path):
    (tmp_path / 'reid_raw.json').write_text('[{"split": "train",,}]')
    with pytest.raises(AnnotationError, match=r'reid_raw.json: malformed JSON '
                       r'at line 1 column 20'):
        CUHKPEDES(str(tmp_path))


def test_missing_file_image_and_split(tmp_path, cuhk_root):
    with pytest.raises(FileNotFoundError, match='ICFG-PEDES.json'):
        ICFGPEDES(str(tmp_path / 'nowhere'))
    import os
    os.remove(osp.join(cuhk_root, 'imgs', 'CUHK01/0002.png'))
    with pytest.raises(FileNotFoundError,
                       match=r'image of record 1 not found: .*0002.png'):
        CUHKPEDES(cuhk_root, split='train')
    with pytest.raises(ValueError, match="unknown split 'dev'"):
        CUHKPEDES(cuhk_root, split='dev')
    with pytest.raises(ValueError, match="unknown view 'texts'"):
        CUHKPEDES(cuhk_root, split='test', view='texts')


def test_train_pids_must_be_contiguous(tmp_path):
    records = [dict(id=1, file_path='a.png', captions=['a'], split='train',
                    processed_tokens=[[]]),
               dict(id=3, file_path='b.png', captions=['b'], split='train',
                    processed_tokens=[[]])]
    root = _make(str(tmp_path), 'reid_raw.json', records, 'file_path')
    with pytest.raises(AnnotationError, match=r'must map to 0..1'):
        CUHKPEDES(root, split='train')


def test_held_out_identities_keep_part_files_aligned(tmp_path):
    """caption_idx indexes the full official train list, so part files
    written for it still line up when val_from_train removes identities."""
    from sapsam.datasets.synthetic import generate_synthetic_benchmark
    generate_synthetic_benchmark(str(tmp_path), seed=2, scale=0.05,
                                 progress=False, datasets=('ICFG-PEDES',))
    root = str(tmp_path / 'ICFG-PEDES')
    parts = dict(data_final='auto', score_dict='auto', seg_dir='segs')
    full = ICFGPEDES(root, split='train', part_files=parts)
    held = ICFGPEDES(root, split='train', val_from_train=2, part_files=parts)
    by_idx = {full.get_data_info(i)['caption_idx']: full.get_data_info(i)
              for i in range(len(full))}
    assert 0 < len(held) < len(full)
    for i in range(len(held)):
        info = held.get_data_info(i)
        same = by_idx[info['caption_idx']]
        assert info['caption'] == same['caption']
        assert info['part_seg_paths'] == same['part_seg_paths']
