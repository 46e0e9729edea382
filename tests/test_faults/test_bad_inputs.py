"""Every kind of bad input ends in an error naming the file, the record
and the problem (or, where accepting is right, a warning naming them)."""
import json
import math
import os
import os.path as osp
import shutil
import subprocess
import sys

import numpy as np
import pytest
import torch
from PIL import Image

from sapsam.datasets import AnnotationError, CUHKPEDES, check_tbpr_dataset
from sapsam.datasets import checks
from sapsam.datasets.transforms import LoadPartMasks, LoadPhraseMask
from sapsam.parts.formats import (PartFileError, read_atr_descriptions,
                                  read_score_dict)
from sapsam.utils.checkpoint_compat import CheckpointError

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


@pytest.fixture
def cuhk(tmp_path, synthetic_cuhk):
    """An editable copy of the synthetic CUHK-PEDES (annotation, images,
    part files)."""
    root = tmp_path / 'CUHK'
    shutil.copytree(synthetic_cuhk, root)
    return root


def _edit(root, change):
    path = root / 'reid_raw.json'
    records = json.loads(path.read_text())
    change(records)
    path.write_text(json.dumps(records))
    return str(path)


# ------------------------------------------------------------ annotations
@pytest.mark.parametrize('value, problem', [
    (None, 'must be a non-empty string'),
    (7, 'must be a non-empty string'),
    ('/etc/passwd', 'is absolute'),
    ('../../secret.png', 'leaves the image folder'),
])
def test_bad_image_paths_name_file_and_record(cuhk, value, problem):
    path = _edit(cuhk, lambda recs: recs[4].update(file_path=value))
    with pytest.raises(AnnotationError, match=problem) as err:
        CUHKPEDES(str(cuhk), split='train')
    assert path in str(err.value) and 'record 4' in str(err.value)
    report = check_tbpr_dataset(str(cuhk), 'CUHKPEDES', check_images=False)
    assert any('record 4' in e for e in report.errors), report.format()


def test_non_utf8_and_empty_annotation_files(cuhk):
    (cuhk / 'reid_raw.json').write_bytes(b'[{"captions": ["caf\xe9"]}]')
    with pytest.raises(AnnotationError, match='reid_raw.json: not UTF-8'):
        CUHKPEDES(str(cuhk), split='train')
    (cuhk / 'reid_raw.json').write_text('[]')
    with pytest.raises(AnnotationError, match='empty'):
        CUHKPEDES(str(cuhk), split='train')
    report = check_tbpr_dataset(str(cuhk), 'CUHKPEDES')
    assert not report.ok and 'empty' in report.errors[0]


def _data_final(cuhk):
    """The benchmark's one ``CUHK-PEDES_data_final_<N>.json``."""
    (final, ) = cuhk.glob('CUHK-PEDES_data_final_*.json')
    return final


def test_duplicate_records_warn_with_names(cuhk, monkeypatch):
    from sapsam.datasets import base_tbpr_dataset
    logged = []
    monkeypatch.setattr(base_tbpr_dataset, 'print_log',
                        lambda msg, **kw: logged.append((msg, kw)))
    count = len(json.loads((cuhk / 'reid_raw.json').read_text()))
    _edit(cuhk, lambda recs: recs.append(dict(recs[0])))
    CUHKPEDES(str(cuhk), split='train', check_images=False)
    warnings = [m for m, kw in logged if kw.get('level') == 30]
    assert any('reid_raw.json' in m and
               f'record {count} repeats record 0' in m
               for m in warnings), logged


# ----------------------------------------------------------------- images
@pytest.mark.parametrize(
    'content', [b'', b'\x89PNG\r\n\x1a\n\x00\x00', b'version https://git-lfs'])
def test_undecodable_images_name_record_and_file(cuhk, content):
    from mmcv.transforms import LoadImageFromFile
    dataset = CUHKPEDES(str(cuhk),
                        split='train',
                        pipeline=[dict(type=LoadImageFromFile)])
    info = dataset.get_data_info(3)
    with open(info['img_path'], 'wb') as f:
        f.write(content)
    with pytest.raises(Exception) as err:
        dataset[3]
    message = str(err.value)
    assert 'reid_raw.json' in message and info['img_path'] in message
    assert 'empty' in message or 'not a decodable image' in message


def test_undecodable_image_is_named_under_python_O(cuhk):
    """mmcv's check is an ``assert``: under ``-O`` the message must still
    name the record and the file."""
    code = ('import sys\n'
            'from mmcv.transforms import LoadImageFromFile\n'
            'from sapsam.datasets import CUHKPEDES\n'
            f'ds = CUHKPEDES({str(cuhk)!r}, split="train", '
            'pipeline=[dict(type=LoadImageFromFile)])\n'
            'open(ds.get_data_info(0)["img_path"], "wb").close()\n'
            'ds[0]\n')
    out = subprocess.run([sys.executable, '-O', '-c', code],
                         cwd=REPO,
                         capture_output=True,
                         text=True,
                         env=dict(os.environ, PYTHONPATH=REPO))
    assert out.returncode != 0
    last = out.stderr.strip().splitlines()[-1]
    assert 'reid_raw.json: sample 0' in last and 'is empty' in last, last


def test_checker_decodes_every_image(cuhk, capsys, tools):
    """A corrupt image that a 12-image sample would miss is found; a sample
    says what it left out."""
    images = sorted(p for p in (cuhk / 'imgs').rglob('*.png'))
    images[7].write_bytes(b'not an image')
    assert tools.load('tools/misc/check_dataset.py').main(
        ['--type', 'CUHKPEDES', '--data-root',
         str(cuhk), '--no-parts']) == 1
    assert images[7].name in capsys.readouterr().out
    try:
        tools.load('tools/misc/check_dataset.py').main([
            '--type', 'CUHKPEDES', '--data-root',
            str(cuhk), '--no-parts', '--sample', '5'
        ])
        assert 'decoded 5 of' in capsys.readouterr().out
    finally:
        checks.DECODE_LIMIT = None


# ------------------------------------------------------------- part files
def _mask_results(tmp_path, array):
    path = str(tmp_path / 'mask.png')
    Image.fromarray(array).save(path)
    return dict(part_seg_paths=[path],
                part_scores=[0.9],
                img_path='imgs/a.png',
                caption_idx=5)


@pytest.mark.parametrize('array, problem', [
    (np.full((8, 4), 3, np.uint8), 'values'),
    (np.zeros((8, 4, 3), np.uint8), 'shape'),
])
def test_bad_part_masks_are_errors(tmp_path, array, problem):
    with pytest.raises(ValueError, match=problem) as err:
        LoadPartMasks(check_shape=False)(_mask_results(tmp_path, array))
    assert 'caption_idx 5' in str(err.value)


def test_empty_part_mask_is_named(tmp_path):
    results = _mask_results(tmp_path, np.zeros((8, 4), np.uint8))
    open(results['part_seg_paths'][0], 'wb').close()
    with pytest.raises(ValueError, match=r'mask\.png is empty'):
        LoadPartMasks()(results)


def test_atr_label_ids_out_of_range(tmp_path):
    path = str(tmp_path / 'label.png')
    Image.fromarray(np.full((8, 4), 40, np.uint8)).save(path)
    with pytest.raises(ValueError, match='id 40; ATR ids are 0..17'):
        LoadPhraseMask()(dict(seg_map_path=path,
                              mask_class_ids=(1, ),
                              record='ann.json record 3'))


@pytest.mark.parametrize('score', [math.nan, math.inf])
def test_non_finite_scores_are_errors(tmp_path, score):
    path = tmp_path / 'score.json'
    path.write_text(json.dumps({'0__a_0': dict(score=score, text='a')}))
    with pytest.raises(PartFileError, match="'0__a_0'.*finite"):
        read_score_dict(str(path))


def test_atr_names_must_stay_in_the_image_folder(tmp_path):
    path = tmp_path / 'atr.json'
    path.write_text(json.dumps([dict(name='../x.jpg', idx='1', text='a')]))
    with pytest.raises(PartFileError, match='record 0.*file name'):
        read_atr_descriptions(str(path))


def test_data_final_sentence_must_be_the_caption(cuhk):
    final = _data_final(cuhk)
    records = json.loads(final.read_text())
    records[2]['sentence'] = 'Some other caption.'
    final.write_text(json.dumps(records))
    with pytest.raises(PartFileError, match='record 2.*another version'):
        CUHKPEDES(str(cuhk), split='train', part_files=dict(seg_dir='segs'))
    CUHKPEDES(str(cuhk),
              split='train',
              part_files=dict(seg_dir='segs', faithful=True))


def test_stage4_names_missing_undecodable_and_escaping_images(
        cuhk, tmp_path, tools, monkeypatch):
    mask_tool = tools.load('tools/data/generate_part_masks.py')
    monkeypatch.setattr(mask_tool, 'build_model', lambda *args: None)
    out = tmp_path / 'out'
    out.mkdir()
    final = _data_final(cuhk)
    records = json.loads(final.read_text())
    args = [osp.join(REPO, 'configs/parts/part_masks_synthetic_cuhk.py'),
            '--cfg-options', f'data_root={cuhk}', f'out_dir={out}']

    def run_with(records):
        (out / final.name).write_text(
            json.dumps(records))
        mask_tool.main(args)

    first = cuhk / 'imgs' / records[0]['name'].lstrip('/')
    first.write_bytes(b'')
    with pytest.raises(ValueError, match=f'record idx 0 .*{first}'):
        run_with(records)
    first.unlink()
    with pytest.raises(FileNotFoundError,
                       match=f'record idx 0 .*not found: {first}'):
        run_with(records)
    records[1]['name'] = '/../../reid_raw.json'
    with pytest.raises(PartFileError, match='idx 1: .*outside the image'):
        run_with(records)


# ------------------------------------------------------- tools and configs
def test_cfg_options_without_equals_is_a_usage_error(capsys, tools):
    with pytest.raises(SystemExit):
        tools.load('tools/train.py').parse_args(
            ['x.py', '--cfg-options', 'train_cfg'])
    assert "'train_cfg' is not key=value" in capsys.readouterr().err


def test_config_errors_name_file_and_line(tmp_path):
    from sapsam.utils.setup_env import ConfigError, load_config
    bad = tmp_path / 'bad.py'
    bad.write_text('model = dict(type="X"\n')
    with pytest.raises(ConfigError, match=f'{bad}:1: syntax error'):
        load_config(str(bad))
    typo = tmp_path / 'typo.py'
    typo.write_text('train_dataloder = dict(batch_size=2)\n')
    with pytest.raises(ConfigError, match='train_dataloder.*train_dataloader'):
        load_config(str(typo))
    ok = tmp_path / 'ok.py'
    ok.write_text('train_cfg = dict(max_epochs=1)\n')
    with pytest.raises(ConfigError, match='--cfg-options randomnes'):
        load_config(str(ok), {'randomnes.seed': 1})


def test_pytorch_launcher_outside_torchrun(monkeypatch):
    from sapsam.utils.setup_env import check_launcher
    for key in ('RANK', 'WORLD_SIZE', 'MASTER_ADDR', 'MASTER_PORT'):
        monkeypatch.delenv(key, raising=False)
    with pytest.raises(RuntimeError, match='RANK.*torch.distributed.run'):
        check_launcher('pytorch')


def test_test_tool_loads_strictly_and_fails_fast(trained_baseline,
                                                 synthetic_cuhk, tools,
                                                 tmp_path):
    opts = tools.options(synthetic_cuhk)
    with pytest.raises(FileNotFoundError, match='--out .*does not exist'):
        tools.load('tools/test.py').main([
            tools.BASELINE,
            osp.join(trained_baseline, 'epoch_2.pth'), '--out',
            str(tmp_path / 'missing' / 'm.json'), '--work-dir',
            str(tmp_path), '--cfg-options', *opts
        ])
    state = torch.load(osp.join(trained_baseline, 'epoch_2.pth'),
                       weights_only=True)['state_dict']
    dropped = sorted(state)[0]
    state.pop(dropped)
    partial = str(tmp_path / 'partial.pth')
    torch.save(dict(state_dict=state), partial)
    with pytest.raises(CheckpointError, match=f'1 missing keys: {dropped}'):
        tools.load('tools/test.py').main([
            tools.BASELINE, partial, '--work-dir',
            str(tmp_path), '--cfg-options', *opts
        ])
    metrics = tools.load('tools/test.py').main([
        tools.BASELINE, partial, '--allow-partial', '--work-dir',
        str(tmp_path), '--cfg-options', *opts
    ])
    assert 't2i/R1' in metrics


def test_resume_refuses_another_model(trained_baseline, synthetic_cuhk, tools,
                                      tmp_path):
    ckpt = torch.load(osp.join(trained_baseline, 'epoch_1.pth'),
                      weights_only=True)
    key = next(k for k, v in ckpt['state_dict'].items() if v.ndim == 2)
    ckpt['state_dict'][key] = torch.zeros(3, 3)
    other = str(tmp_path / 'other.pth')
    torch.save(ckpt, other)
    with pytest.raises(CheckpointError, match=f'shape mismatches: {key}'):
        tools.load('tools/train.py').main([
            tools.BASELINE, '--resume', other, '--work-dir',
            str(tmp_path / 'w'), '--cfg-options',
            *tools.options(synthetic_cuhk, epochs=3)
        ])


def test_resume_skips_a_truncated_last_checkpoint(trained_baseline,
                                                  synthetic_cuhk, tools,
                                                  tmp_path, monkeypatch):
    work = tmp_path / 'work'
    shutil.copytree(trained_baseline, work)
    last = work / 'epoch_2.pth'
    data = last.read_bytes()
    last.write_bytes(data[:len(data) // 3])
    (work / 'last_checkpoint').write_text(str(last))
    with pytest.raises(CheckpointError, match='truncated'):
        tools.load('tools/train.py').main([
            tools.BASELINE, '--resume',
            str(last), '--work-dir',
            str(work), '--cfg-options',
            *tools.options(synthetic_cuhk, epochs=2)
        ])
    train_tool = tools.load('tools/train.py')
    warned, resumed = [], []
    monkeypatch.setattr(train_tool, 'print_log',
                        lambda msg, **kw: warned.append(msg))
    real_resume = train_tool.Runner.resume

    def resume(self, path, **kwargs):
        resumed.append(path)
        return real_resume(self, path, **kwargs)

    monkeypatch.setattr(train_tool.Runner, 'resume', resume)
    # max_epochs=1: the run resumes from epoch 1 and has nothing left to do.
    train_tool.main([
        tools.BASELINE, '--work-dir', str(work), '--resume', '--cfg-options',
        *tools.options(synthetic_cuhk, epochs=1, validate=False)])
    assert any(f'skipping {last}' in m and 'truncated' in m for m in warned)
    assert resumed == [str(work / 'epoch_1.pth')]


@pytest.mark.parametrize('script, args', [
    ('tools/dist_train.sh', ['cfg.py', '2', '--amp']),
    ('tools/dist_test.sh', ['cfg.py', 'ckpt.pth', '2']),
])
def test_dist_scripts_need_no_torchrun_on_path(tmp_path, script, args):
    """They launch ``$PYTHON -m torch.distributed.run`` (a venv that is not
    activated has no ``torchrun`` on PATH)."""
    fake = tmp_path / 'python'
    fake.write_text('#!/bin/sh\necho "$@"\n')
    fake.chmod(0o755)
    out = subprocess.run(['bash', script, *args], cwd=REPO,
                         capture_output=True, text=True,
                         env=dict(PATH='/usr/bin:/bin', PYTHON=str(fake)))
    assert out.returncode == 0, out.stderr
    launched = out.stdout.split()
    assert launched[:2] == ['-m', 'torch.distributed.run']
    assert '--nproc_per_node=2' in launched
    assert launched[-2:] == ['--launcher', 'pytorch'] or \
        launched[-3:] == ['--launcher', 'pytorch', '--amp']


@pytest.mark.parametrize('records, problem', [
    ([], 'no records'),
    ([dict(name='../../x.jpg', idx='1', text='a hat')], 'leaves the image'),
])
def test_bad_atr_phrase_files(tmp_path, records, problem):
    from sapsam.datasets import ATRPhraseSegDataset, check_atr_dataset
    for sub in ('JPEGImages', 'SegmentationClassAug'):
        (tmp_path / sub).mkdir()
    ann = tmp_path / 'atr_item_descriptions_train.json'
    ann.write_text(json.dumps(records))
    with pytest.raises(AnnotationError, match=problem) as err:
        ATRPhraseSegDataset(ann_file=ann.name, data_root=str(tmp_path))
    assert str(ann) in str(err.value)
    report = check_atr_dataset(str(tmp_path), ann_files=[ann.name])
    assert not report.ok and str(ann) in ' '.join(report.errors)
