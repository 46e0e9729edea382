"""Official part file formats: readers, writers, names, pairing."""
import json
import os
import os.path as osp

import pytest

from sapsam.parts import formats
from sapsam.parts.formats import PartFileError

SHARED = '/work/shared/data'
REAL_DEV = osp.join(SHARED, 'atr_item_descriptions_dev.json')


@pytest.mark.skipif(not osp.isfile(REAL_DEV), reason='shared data absent')
def test_real_atr_file_round_trips_byte_identical(tmp_path):
    records = formats.read_atr_descriptions(REAL_DEV)
    assert len(records) == 2500
    assert records[0] == dict(name='2500_1029.jpg', idx='16',
                              text='a black leather bag')
    out = tmp_path / 'dev.json'
    formats.write_atr_descriptions(str(out), records)
    assert out.read_bytes() == open(REAL_DEV, 'rb').read()


@pytest.mark.skipif(not osp.isfile(REAL_DEV), reason='shared data absent')
def test_real_atr_labels_match_constants():
    names = formats.read_atr_labels(osp.join(SHARED, 'atr_label.txt'))
    assert tuple(names) == formats.ATR_CLASSES


def test_atr_reader_names_file_and_record(tmp_path):
    path = tmp_path / 'bad.json'
    path.write_text(json.dumps([
        dict(name='a.jpg', idx='4', text='a red top'),
        dict(name='b.jpg', idx=4, text='a red top')]))
    with pytest.raises(PartFileError, match=r'bad\.json: record 1 \(b\.jpg\)'
                       r'.*"idx" must be a group key string'):
        formats.read_atr_descriptions(str(path))
    path.write_text(json.dumps([dict(name='a.jpg', idx='4')]))
    with pytest.raises(PartFileError,
                       match=r"record 0: missing keys \['text'"):
        formats.read_atr_descriptions(str(path))
    path.write_text('{"name": ')
    with pytest.raises(PartFileError, match='not valid JSON'):
        formats.read_atr_descriptions(str(path))


def test_data_final_and_score_dict_round_trip(tmp_path):
    records = [
        dict(name='/CUHK01/0363004.png', attribute=['a white shirt'], idx=1,
             sentence='A man in a white shirt.'),
        dict(name='/CUHK01/0363004.png', attribute=[['a', 'b'], 'c'], idx=0,
             sentence='s'),
        dict(name='/x.png', attribute=[], idx=2, sentence='t'),
    ]
    path = tmp_path / formats.data_final_filename('CUHK-PEDES', 3)
    assert path.name == 'CUHK-PEDES_data_final_3.json'
    formats.write_data_final(str(path), records)
    assert formats.read_data_final(str(path)) == records
    scores = {'1__CUHK01_0363004_0': dict(score=0.93, text='a white shirt')}
    spath = tmp_path / formats.score_dict_filename('CUHK-PEDES', 3)
    assert spath.name == 'CUHK-PEDES_score_dict_2.json'
    formats.write_score_dict(str(spath), scores)
    assert formats.read_score_dict(str(spath)) == scores
    assert formats.find_part_files(str(tmp_path), 'CUHK-PEDES') == (
        str(path), str(spath))
    assert formats.find_part_files(str(tmp_path), 'RSTPReid') == (None, None)


def test_data_final_rejects_duplicates_and_bad_records(tmp_path):
    path = tmp_path / 'd.json'
    rec = dict(name='/a.png', attribute=['x'], idx=3, sentence='s')
    path.write_text(json.dumps([rec, dict(rec)]))
    with pytest.raises(PartFileError, match='records 0 and 1 both have idx 3'):
        formats.read_data_final(str(path))
    path.write_text(json.dumps([dict(rec, attribute=['x', 5])]))
    with pytest.raises(PartFileError,
                       match=r'record 0 \(idx 3\): "attribute" must be'):
        formats.read_data_final(str(path))
    path.write_text(json.dumps([dict(rec, idx='3')]))
    with pytest.raises(PartFileError, match='"idx" must be a caption index'):
        formats.read_data_final(str(path))
    path.write_text(json.dumps({'a': dict(score='high', text='x')}))
    with pytest.raises(PartFileError, match="entry 'a': \"score\" must be"):
        formats.read_score_dict(str(path))


def test_official_seg_names():
    # docs/fidelity.md F1: CUHK, ICFG and RSTPReid examples (two underscores).
    assert formats.seg_stem(0, '/CUHK01/0363004.png', 0) == \
        '0__CUHK01_0363004_0'
    assert formats.seg_stem(
        0, '/test/0627/0627_010_05_0303afternoon_1591_0.jpg', 0) == \
        '0__test_0627_0627_010_05_0303afternoon_1591_0_0'
    assert formats.seg_stem(12, '/0000_c14_0031.jpg', 3) == \
        '12__0000_c14_0031_3'
    assert formats.official_name('CUHK01/0363004.png') == \
        '/CUHK01/0363004.png'


def test_flatten_attributes():
    assert formats.flatten_attributes([['a', 'b']]) == ['a', 'b']
    assert formats.flatten_attributes(['a', ['b', ['c']], 'd']) == \
        ['a', 'b', 'c', 'd']
    assert formats.flatten_attributes([]) == []


def test_pair_by_stem_ignores_listing_order(tmp_path):
    img_dir, mask_dir = tmp_path / 'JPEGImages', tmp_path / 'Seg'
    img_dir.mkdir()
    mask_dir.mkdir()
    # Created in different orders; the official script paired listings.
    for name in ('b.jpg', 'a.jpg', 'c.jpg'):
        (img_dir / name).write_bytes(b'')
    for name in ('c.png', 'a.png'):
        (mask_dir / name).write_bytes(b'')
    pairs, unpaired = formats.pair_by_stem(str(img_dir), str(mask_dir))
    assert [(p[0], osp.basename(p[2])) for p in pairs] == [
        ('a.jpg', 'a.png'), ('c.jpg', 'c.png')]
    assert unpaired == ['b.jpg']
    with pytest.raises(FileNotFoundError, match='nowhere'):
        formats.pair_by_stem(str(tmp_path / 'nowhere'), str(mask_dir))


def test_atomic_write_leaves_no_temp_files(tmp_path):
    formats.atomic_write_json(str(tmp_path / 'x.json'), [1, 2])
    assert os.listdir(tmp_path) == ['x.json']
    with pytest.raises(TypeError):
        formats.atomic_write_json(str(tmp_path / 'y.json'), {1, 2})
    assert os.listdir(tmp_path) == ['x.json']
