"""tools/misc/check_dataset.py on the synthetic benchmark and on deliberately
broken copies of it: every documented mistake is reported with its fix, and
the loaders indeed fail on the copies the checker rejects."""
import json
import os
import os.path as osp
import re
import runpy
import shutil
import subprocess
import sys
from unittest import mock

import pytest

from sapsam.datasets import CUHKPEDES, ICFGPEDES, RSTPReid
from sapsam.datasets.checks import check_atr_dataset, check_tbpr_dataset
from tests.helpers import REPO, load_script


@pytest.fixture(scope='module')
def synthetic(tmp_path_factory):
    from sapsam.datasets.synthetic import generate_synthetic_benchmark
    out = str(tmp_path_factory.mktemp('synthetic'))
    generate_synthetic_benchmark(out, seed=1, scale=0.06)
    return out


@pytest.fixture(scope='module')
def tool():
    return load_script('tools/misc/check_dataset.py')


@pytest.fixture
def copy_of(synthetic, tmp_path):
    """``copy_of('ICFG-PEDES')``: a private copy to break."""

    def make(name):
        dst = str(tmp_path / name)
        shutil.copytree(osp.join(synthetic, name), dst)
        return dst

    return make


def _edit_json(path, edit):
    with open(path, encoding='utf-8') as f:
        data = json.load(f)
    data = edit(data) or data
    with open(path, 'w', encoding='utf-8') as f:
        json.dump(data, f)


def _one_error(report, *needles):
    """The single error of ``report`` containing every needle, and its
    fix."""
    hits = [(m, fix) for lvl, m, fix in report.findings
            if lvl == 'error' and all(n in m for n in needles)]
    assert len(hits) == 1, report.format()
    return hits[0]


@pytest.mark.parametrize('name,dataset_type', [
    ('CUHK-PEDES', 'CUHKPEDES'), ('ICFG-PEDES', 'ICFGPEDES'),
    ('RSTPReid', 'RSTPReid'), ('ATR', 'ATR')])
def test_clean_synthetic_data_passes(synthetic, tool, capsys, name,
                                     dataset_type):
    code = tool.main(['--type', dataset_type, '--data-root',
                      osp.join(synthetic, name)])
    out = capsys.readouterr().out
    assert code == 0, out
    assert 'OK (0 errors' in out
    # Sizes of the small synthetic splits are a warning, not an error.
    assert 'WARNING' in out and 'synthetic benchmark: expected' in out
    if name != 'ATR':
        assert 'published' in out


def test_icfg_readme_file_name(copy_of, tool, capsys):
    root = copy_of('ICFG-PEDES')
    os.rename(osp.join(root, 'ICFG-PEDES.json'),
              osp.join(root, 'ICFG_PEDES.json'))
    with pytest.raises(FileNotFoundError):
        ICFGPEDES(root, split='train')
    assert tool.main(['--type', 'ICFGPEDES', '--data-root', root]) == 1
    out = capsys.readouterr().out
    assert 'found ICFG_PEDES.json; the loaders read ICFG-PEDES.json' in out
    assert 'fix: rename it' in out


def test_cuhk_caption_all_without_split(copy_of):
    root = copy_of('CUHK-PEDES')

    def drop_split(records):
        for rec in records:
            rec.pop('split')

    _edit_json(osp.join(root, 'reid_raw.json'), drop_split)
    os.rename(osp.join(root, 'reid_raw.json'),
              osp.join(root, 'caption_all.json'))
    message, fix = _one_error(check_tbpr_dataset(root, 'CUHKPEDES'),
                              'caption_all.json')
    assert 'no "split" field' in message and 'reid_raw.json' in fix


def test_rstp_file_path_key_and_the_printed_fix_works(copy_of):
    root = copy_of('RSTPReid')
    ann = osp.join(root, 'data_captions.json')

    def rename_key(records):
        for rec in records:
            rec['file_path'] = rec.pop('img_path')

    _edit_json(ann, rename_key)
    with pytest.raises(ValueError, match='img_path'):
        RSTPReid(root, split='train')
    message, fix = _one_error(check_tbpr_dataset(root, 'RSTPReid'),
                              "'file_path'", "reads 'img_path'")
    assert 'RaSa' in message
    command = re.search(r'(python -c ".*")$', fix).group(1)
    subprocess.run(command, shell=True, check=True)
    assert check_tbpr_dataset(root, 'RSTPReid').ok
    assert len(RSTPReid(root, split='train')) > 0


def test_missing_image_folder_is_named(copy_of):
    root = copy_of('CUHK-PEDES')
    with open(osp.join(root, 'reid_raw.json')) as f:
        records = json.load(f)
    gone = sorted({r['file_path'].split('/')[0] for r in records})[-1]
    split = [r['split'] for r in records
             if r['file_path'].startswith(gone + '/')][0]
    shutil.rmtree(osp.join(root, 'imgs', gone))
    with pytest.raises(FileNotFoundError, match=gone):
        CUHKPEDES(root, split=split)
    message, _ = _one_error(check_tbpr_dataset(root, 'CUHKPEDES',
                                               parts=False),
                            'images listed in the annotation file are '
                            'missing')
    assert f'absent from {osp.join(root, "imgs")}: {gone} (' in message


def test_zero_based_cuhk_ids_and_imgs_prefix(copy_of):
    root = copy_of('CUHK-PEDES')

    def shift(records):
        for rec in records:
            rec['id'] -= 1

    _edit_json(osp.join(root, 'reid_raw.json'), shift)
    _one_error(check_tbpr_dataset(root, 'CUHKPEDES', parts=False),
               'train ids start at 0', '1-based')
    with pytest.raises(ValueError, match='0..'):
        CUHKPEDES(root, split='train')

    def prefix(records):
        for rec in records:
            rec['id'] += 1
            rec['file_path'] = 'imgs/' + rec['file_path']

    _edit_json(osp.join(root, 'reid_raw.json'), prefix)
    _one_error(check_tbpr_dataset(root, 'CUHKPEDES', parts=False),
               'repeat the "imgs/" prefix')


def test_data_root_one_level_too_high(synthetic):
    report = check_tbpr_dataset(synthetic, 'RSTPReid')
    message, fix = _one_error(report, 'not in data_root')
    assert fix == f'set data_root to {osp.join(synthetic, "RSTPReid")}'


def test_part_files_and_seg_names(copy_of):
    root = copy_of('RSTPReid')
    segs = osp.join(root, 'segs')
    # The README's one-underscore names.
    for name in os.listdir(segs)[:5]:
        os.rename(osp.join(segs, name),
                  osp.join(segs, name.replace('__', '_', 1)))
    message, fix = _one_error(check_tbpr_dataset(root, 'RSTPReid'),
                              'one underscore')
    assert message.startswith('5 seg masks') and '->' in fix
    # A misnamed data_final file and a missing score dict.
    final = [f for f in os.listdir(root) if 'data_final' in f][0]
    os.rename(osp.join(root, final),
              osp.join(root, final.replace('RSTPReid', 'RSTP_Reid')))
    report = check_tbpr_dataset(root, 'RSTPReid')
    _, fix = _one_error(report, 'is misnamed')
    assert fix == f'rename it to {final}'
    score = [f for f in os.listdir(root) if 'score_dict' in f][0]
    os.remove(osp.join(root, score))
    os.rename(osp.join(root, final.replace('RSTPReid', 'RSTP_Reid')),
              osp.join(root, final))
    _one_error(check_tbpr_dataset(root, 'RSTPReid'),
               'RSTPReid_score_dict_<N>.json is missing')
    assert check_tbpr_dataset(root, 'RSTPReid', parts=False).ok


def test_atr_layout_mistakes(copy_of):
    root = copy_of('ATR')
    os.remove(osp.join(root, 'atr_item_descriptions_train.json'))
    os.rename(osp.join(root, 'SegmentationClassAug'),
              osp.join(root, 'SegmentationClass'))
    report = check_atr_dataset(root)
    _, fix = _one_error(report, 'atr_item_descriptions_train.json not found')
    assert 'tools/data/generate_atr_phrases.py' in fix
    _, fix = _one_error(report, 'SegmentationClassAug not found')
    assert fix == (f'rename {osp.join(root, "SegmentationClass")} to '
                   f'{osp.join(root, "SegmentationClassAug")}')
    assert len(report.errors) == 2


def test_config_mode_checks_every_dataset(synthetic, tool, capsys):
    datasets_in_config = tool.datasets_in_config
    config = osp.join(REPO, 'configs/baseline/clip_sdm_synthetic.py')
    from mmengine.config import Config
    cfg = Config.fromfile(config)
    found = datasets_in_config(cfg)
    assert {d['type'] for d in found} == {'CUHKPEDES'}
    # Part-pipeline configs name their dataset without dataloaders.
    for name, expected in (('split_captions_llm_icfg.py', 'ICFGPEDES'),
                           ('part_masks_mca_rstp.py', 'RSTPReid')):
        stage = datasets_in_config(
            Config.fromfile(osp.join(REPO, 'configs/parts', name)))
        assert [d['type'] for d in stage] == [expected]
    root = osp.join(synthetic, 'CUHK-PEDES')
    options = ['--cfg-options'] + [
        f'{k}.dataset.data_root={root}'
        for k in ('train_dataloader', 'val_dataloader', 'test_dataloader',
                  'val_cfg.gallery_dataloader',
                  'test_cfg.gallery_dataloader')]
    assert tool.main([config] + options) == 0
    assert '1 of 1 datasets OK' in capsys.readouterr().out
    # As a script: non-zero exit status on errors.
    argv = ['check_dataset.py', '--type', 'ICFGPEDES', '--data-root',
            osp.join(synthetic, 'missing')]
    with mock.patch.object(sys, 'argv', argv), \
            pytest.raises(SystemExit) as exit_info:
        runpy.run_path(osp.join(REPO, 'tools/misc/check_dataset.py'),
                       run_name='__main__')
    assert exit_info.value.code == 1
    assert 'does not exist' in capsys.readouterr().out


def test_a_registered_dataset_class_is_checked(synthetic, tool, capsys):
    """The checker finds dataset classes in the registry: a new subclass
    with its own published sizes is checked by type name, from a config or
    with --type."""
    from sapsam.datasets.checks import check_dataset
    from sapsam.registry import DATASETS

    class SmallRSTP(RSTPReid):
        PUBLISHED_SIZES = {}

    DATASETS.register_module(module=SmallRSTP)
    try:
        root = osp.join(synthetic, 'RSTPReid')
        report = check_dataset(dict(type='SmallRSTP', data_root=root,
                                    split='test', view='captions'))
        assert report.ok and 'published' not in report.format()
        assert tool.main(['--type', 'SmallRSTP', '--data-root', root]) == 0
        assert 'published' not in capsys.readouterr().out
    finally:
        DATASETS.module_dict.pop('SmallRSTP')
