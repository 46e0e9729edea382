"""attach_parts: keying, odd records, missing files, dataset integration."""
import os
import os.path as osp

import mmcv
import numpy as np
import pytest

from sapsam.datasets import CUHKPEDES, part_annotations
from sapsam.datasets.part_annotations import attach_parts
from sapsam.parts.formats import (PartFileError, seg_stem, write_data_final,
                                  write_score_dict)
from tests import helpers


def write_parts(root, records, flat, key_of=lambda pos, rec: rec['idx'],
                skip_files=()):
    """data_final + score dict + 0/1 seg PNGs for ``records``."""
    write_data_final(osp.join(root, 'CUHK-PEDES_data_final_7.json'), records)
    scores, seg_dir = {}, osp.join(root, 'segs')
    os.makedirs(seg_dir, exist_ok=True)
    for pos, rec in enumerate(records):
        phrases = []
        for a in rec['attribute']:
            phrases += a if isinstance(a, list) else [a]
        for i, phrase in enumerate(phrases):
            stem = seg_stem(key_of(pos, rec), rec['name'], i)
            scores[stem] = dict(score=round(0.9 - 0.1 * i, 2), text=phrase)
            if stem not in skip_files:
                mmcv.imwrite(np.zeros((64, 32), np.uint8),
                             osp.join(seg_dir, stem + '.png'))
    write_score_dict(osp.join(root, 'CUHK-PEDES_score_dict_6.json'), scores)
    return (osp.join(root, 'CUHK-PEDES_data_final_7.json'),
            osp.join(root, 'CUHK-PEDES_score_dict_6.json'), seg_dir)


@pytest.fixture
def train(tmp_path):
    """Caption-level train list of 3 images with 2, 2 and 3 captions."""
    flat = helpers.write_cuhk(str(tmp_path))
    data_list = [dict(caption_idx=i, rel_path=rel, caption=cap,
                      img_path=osp.join(str(tmp_path), 'imgs', rel))
                 for i, (rel, cap) in enumerate(flat)]
    # File order differs from caption order (docs/fidelity.md M2); odd records included.
    records = [
        dict(name='/' + flat[3][0], attribute=['a red coat', 'blue pants'],
             idx=3, sentence=flat[3][1]),
        dict(name='/' + flat[0][0], attribute=[['a red coat', 'white shoes']],
             idx=0, sentence=flat[0][1]),
        dict(name='/' + flat[5][0], attribute=[], idx=5, sentence=flat[5][1]),
        dict(name='/' + flat[1][0],
             attribute=['a green bag', ['short black hair', 'x']], idx=1,
             sentence=flat[1][1]),
    ]
    return tmp_path, flat, data_list, records


def test_default_keys_by_idx_and_keeps_every_caption(train, monkeypatch):
    root, flat, data_list, records = train
    files = write_parts(str(root), records, flat)
    logged = []
    monkeypatch.setattr(part_annotations, 'print_log',
                        lambda msg, **kw: logged.append(msg))
    out = attach_parts(data_list, *files, 'CUHK-PEDES')
    assert [d['caption_idx'] for d in out] == list(range(7))
    seg = files[2]
    assert out[3]['part_phrases'] == ['a red coat', 'blue pants']
    assert out[3]['part_seg_paths'] == [
        osp.join(seg, '3__CUHK01_0000001_0.png'),
        osp.join(seg, '3__CUHK01_0000001_1.png')]
    assert out[3]['part_scores'] == [0.9, 0.8]
    # Nested lists flattened.
    assert out[0]['part_phrases'] == ['a red coat', 'white shoes']
    assert out[1]['part_phrases'] == ['a green bag', 'short black hair', 'x']
    # Empty record and captions without a record train without parts.
    for i in (2, 4, 5, 6):
        assert out[i]['part_phrases'] == out[i]['part_seg_paths'] == \
            out[i]['part_scores'] == []
    assert out[2]['caption'] == data_list[2]['caption']
    assert 'part_phrases' not in data_list[0]     # input left alone
    assert 'attached 7 part phrases from 4 records to 3/7 captions; 3 ' \
        'captions without a record (kept without parts), 1 empty' in logged[0]


def test_faithful_mode_reproduces_the_official_loader(train):
    root, flat, data_list, records = train
    # The official CUHK loader names seg files by position in the file.
    files = write_parts(str(root), records, flat, key_of=lambda pos, rec: pos)
    out = attach_parts(data_list, *files, 'CUHK-PEDES', faithful=True)
    # Nested record 0 skipped, empty record 5 and captions without a record
    # dropped; the list element of record 1 replaced by its first item.
    assert [d['caption_idx'] for d in out] == [1, 3]
    assert out[1]['part_seg_paths'][0].endswith('0__CUHK01_0000001_0.png')
    assert out[0]['part_phrases'] == ['a green bag', 'short black hair']
    assert out[0]['part_seg_paths'][0].endswith('3__CUHK01_0000000_0.png')
    # The same files are wrong for the default (idx) keying: M2.
    with pytest.raises(FileNotFoundError):
        attach_parts(data_list, *files, 'CUHK-PEDES')


def test_missing_mask_is_an_error_naming_file_and_record(train, monkeypatch):
    root, flat, data_list, records = train
    files = write_parts(str(root), records, flat,
                        skip_files={'3__CUHK01_0000001_1'})
    with pytest.raises(FileNotFoundError,
                       match=r"record 0 \(idx 3, '/CUHK01/0000001\.png'\), "
                       r"phrase 1 'blue pants': mask .*3__CUHK01_0000001_1"
                       r"\.png not found"):
        attach_parts(data_list, *files, 'CUHK-PEDES')
    logged = []
    monkeypatch.setattr(part_annotations, 'print_log',
                        lambda msg, **kw: logged.append(msg))
    out = attach_parts(data_list, *files, 'CUHK-PEDES', skip_missing=True)
    assert out[3]['part_phrases'] == ['a red coat']
    assert '1 phrases skipped (missing mask)' in logged[0]


def test_mismatched_or_stale_records_are_errors(train):
    root, flat, data_list, records = train
    wrong = [dict(records[0], name='/CUHK01/0000002.png')]
    files = write_parts(str(root), wrong, flat)
    with pytest.raises(PartFileError, match=r"name '/CUHK01/0000002\.png' "
                       r"does not match the caption's image "
                       r"'CUHK01/0000001\.png'"):
        attach_parts(data_list, *files, 'CUHK-PEDES')
    files = write_parts(str(root), [dict(records[0], idx=9)], flat)
    with pytest.raises(PartFileError, match='no caption with caption_idx 9'):
        attach_parts(data_list, *files, 'CUHK-PEDES')
    files = write_parts(str(root), records[:1], flat)
    write_score_dict(files[1], {})
    with pytest.raises(PartFileError, match="no entry '3__CUHK01_0000001_0'"):
        attach_parts(data_list, *files, 'CUHK-PEDES')
    write_score_dict(files[1], {
        '3__CUHK01_0000001_0': dict(score=0.5, text='something else'),
        '3__CUHK01_0000001_1': dict(score=0.5, text='blue pants')})
    with pytest.raises(PartFileError, match='from different runs'):
        attach_parts(data_list, *files, 'CUHK-PEDES')
    with pytest.raises(FileNotFoundError, match='data_final file not found'):
        attach_parts(data_list, str(root / 'nope.json'), *files[1:],
                     'CUHK-PEDES')


def test_dataset_attaches_parts_and_feeds_the_part_pipeline(train):
    root, flat, data_list, records = train
    write_parts(str(root), records, flat)
    from mmcv.transforms import LoadImageFromFile, Resize

    from sapsam.datasets.transforms import (FindPhraseSpans, LoadPartMasks,
                                            MergePartMasks, PackTBPRInputs,
                                            PatchLabels, TokenizeCaption)
    pipeline = [dict(type=LoadImageFromFile), dict(type=LoadPartMasks),
                dict(type=MergePartMasks),
                dict(type=Resize, scale=(128, 384), keep_ratio=False),
                dict(type=PatchLabels), dict(type=TokenizeCaption),
                dict(type=FindPhraseSpans), dict(type=PackTBPRInputs)]
    dataset = CUHKPEDES(str(root), split='train', pipeline=pipeline,
                        part_files=dict(data_final='auto', score_dict='auto',
                                        seg_dir='segs'))
    assert len(dataset) == 7
    assert dataset.get_data_info(3)['part_phrases'] == ['a red coat',
                                                        'blue pants']
    sample = dataset[3]['data_samples']
    # Caption 3 says 'a red top' (one mismatch) and 'blue pants'.
    assert sample.part_num == 2
    assert (sample.part_spans[:2] >= 0).all()
    assert (dataset[2]['data_samples'].part_spans == -1).all()
    with pytest.raises(FileNotFoundError, match='no RSTPReid_data_final'):
        part_annotations.find_part_files(str(root), 'RSTPReid')
