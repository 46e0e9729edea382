"""tools/data/split_atr_phrases.py: 8:1:1 by image, no leakage."""
import json

import pytest

# One intra-op thread (tests/conftest.py), as every Person-SAM test.
pytestmark = pytest.mark.usefixtures('one_thread')

REAL = ['/work/shared/data/atr_item_descriptions_dev.json',
        '/work/shared/data/atr_item_descriptions_test.json']


@pytest.fixture(scope='module')
def tool(load_tool):
    return load_tool('tools/data/split_atr_phrases.py')


def names(path):
    with open(path) as f:
        return {r['name'] for r in json.load(f)}


def test_real_records_split_by_image_without_leakage(tool, tmp_path):
    # The official dev and test files share 277 images.
    assert len(names(REAL[0]) & names(REAL[1])) == 277
    summary = tool.main(REAL + ['--out-dir', str(tmp_path)])
    splits = {s: names(tmp_path / f'atr_item_descriptions_{s}.json')
              for s in ('train', 'dev', 'test')}
    assert not splits['train'] & splits['dev']
    assert not splits['train'] & splits['test']
    assert not splits['dev'] & splits['test']
    total = sum(v['records'] for v in summary.values())
    assert total == 5000
    images = sum(len(v) for v in splits.values())
    assert abs(len(splits['train']) / images - 0.8) < 0.01
    assert abs(len(splits['dev']) / images - 0.1) < 0.01
    # Every record is kept unchanged.
    with open(tmp_path / 'atr_item_descriptions_dev.json') as f:
        dev = json.load(f)
    assert set(dev[0]) == {'name', 'idx', 'text'}


def test_record_level_split_reproduces_the_leak(tool, tmp_path):
    records = tool.read_records(REAL[0])
    splits = tool.split_records(records, unit='record', seed=0)
    assert [len(s) for s in splits] == [2000, 250, 250]
    shared = {r['name'] for r in splits[0]} & {r['name'] for r in splits[2]}
    assert shared  # images with several records land in several splits
    by_image = tool.split_records(records, unit='image', seed=0)
    assert not {r['name'] for r in by_image[0]} & \
        {r['name'] for r in by_image[2]}
    assert tool.split_records(records, seed=0) == by_image  # deterministic


def test_raw_stage1_output_is_flattened(tool, tmp_path):
    raw = [dict(name=f'2500_{i}.jpg', id=i,
                description={'2': 'long hair', '4': 'a red coat'})
           for i in range(20)]
    path = tmp_path / 'raw.json'
    path.write_text(json.dumps(raw))
    records = tool.read_records(str(path))
    assert len(records) == 40
    assert records[1] == dict(name='2500_0.jpg', idx='4', text='a red coat')
    bad = tmp_path / 'bad.json'
    bad.write_text(json.dumps([{'name': 'x.jpg'}]))
    with pytest.raises(ValueError, match='bad.json: record 0'):
        tool.read_records(str(bad))
