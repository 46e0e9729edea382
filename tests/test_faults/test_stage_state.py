"""Stage tools key finished work by its inputs and model, merge shards
that run at the same time, leave no temp file and write normal modes."""
import json
import os
import os.path as osp
import stat
import subprocess

import pytest

from sapsam.parts.formats import read_data_final, read_score_dict

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
SPLIT_CFG = osp.join(REPO,
                     'configs/parts/split_captions_rule_synthetic_cuhk.py')
MASK_CFG = osp.join(REPO, 'configs/parts/part_masks_synthetic_cuhk.py')


@pytest.fixture
def split_tool(tools):
    return tools.load('tools/data/split_captions.py')


@pytest.fixture
def mask_tool(tools):
    return tools.load('tools/data/generate_part_masks.py')


@pytest.fixture
def pipeline_tool(tools):
    return tools.load('tools/data/run_part_pipeline.py')


@pytest.fixture
def cuhk(tmp_path, synthetic_cuhk):
    """A private copy of the synthetic CUHK-PEDES annotations (images
    linked) that a test may edit."""
    root = tmp_path / 'CUHK'
    root.mkdir()
    for name in ('reid_raw.json', 'imgs'):
        src = osp.join(synthetic_cuhk, name)
        if osp.isdir(src):
            os.symlink(src, root / name)
        else:
            (root / name).write_bytes(open(src, 'rb').read())
    return root


def _split(split_tool, root, out, *extra):
    return split_tool.main([SPLIT_CFG, '--cfg-options',
                            f'dataset.data_root={root}', f'out_dir={out}',
                            *extra])


def _mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


def _train_captions(cuhk) -> int:
    """Captions of the train split (the records stage 3 writes)."""
    with open(osp.join(str(cuhk), 'reid_raw.json'), encoding='utf-8') as f:
        return sum(len(r['captions']) for r in json.load(f)
                   if r['split'] == 'train')


def test_split_redoes_exactly_an_edited_caption(cuhk, tmp_path, monkeypatch,
                                                split_tool):
    out = tmp_path / 'out'
    data_final, err_list = _split(split_tool, cuhk, out)
    # Atomic writes keep the normal mode (0666 less the umask).
    umask = os.umask(0o022)
    os.umask(umask)
    assert _mode(data_final) == _mode(err_list) == 0o666 & ~umask
    ann = json.loads((cuhk / 'reid_raw.json').read_text())
    train = [r for r in ann if r['split'] == 'train']
    train[1]['captions'][0] = 'A man in a green hat and orange shorts.'
    (cuhk / 'reid_raw.json').write_text(json.dumps(ann))
    edited = len(train[0]['captions'])        # caption_idx of the edit
    real_build = split_tool.TASK_UTILS.build
    asked = []

    def build(cfg):
        splitter = real_build(cfg)
        original = splitter.split

        def split(captions):
            asked.extend(captions)
            return original(captions)

        splitter.split = split
        return splitter

    monkeypatch.setattr(split_tool.TASK_UTILS, 'build', build)
    # A temp file of a killed final write does not survive the rerun.
    (out / f'.tmp_killed_CUHK-PEDES_data_final_{_train_captions(cuhk)}'
           '.json').write_text('[')
    data_final, _ = _split(split_tool, cuhk, out)
    assert asked == ['A man in a green hat and orange shorts.']
    record = {r['idx']: r for r in read_data_final(data_final)}[edited]
    assert record['sentence'] == asked[0]
    assert 'a green hat' in record['attribute']
    assert not [f for f in os.listdir(out) if f.startswith('.tmp_')]
    # Another splitter config redoes everything.
    asked.clear()
    _split(split_tool, cuhk, out, 'splitter.max_phrase_words=9')
    assert len(asked) == _train_captions(cuhk)


def test_concurrent_shards_merge(cuhk, tmp_path, split_tool, monkeypatch):
    """Two shards working at the same time (both read the progress before
    either finished): both succeed and the final file is written, complete
    (by the last to finish; a shard finishing at the same moment rewrites
    the same content atomically)."""
    import threading
    out = tmp_path / 'out'
    real_build = split_tool.TASK_UTILS.build
    both_working = threading.Barrier(2, timeout=60)

    def build(cfg):
        splitter = real_build(cfg)
        original = splitter.split

        def split(captions):
            both_working.wait()
            return original(captions)

        splitter.split = split
        return splitter

    monkeypatch.setattr(split_tool.TASK_UTILS, 'build', build)
    # Config and dataset building (MMEngine's config import machinery and
    # default scope) is not thread-safe; separate processes never share it.
    # Serialise only that start-up: both shards still read the progress
    # before either finishes (the barrier above).
    start_up = threading.Lock()
    for fn_name in ('load_config', 'load_captions'):
        def serialised(*args, _fn=getattr(split_tool, fn_name), **kwargs):
            with start_up:
                return _fn(*args, **kwargs)
        monkeypatch.setattr(split_tool, fn_name, serialised)
    results, errors = {}, []

    def shard(i):
        try:
            results[i] = _split(split_tool, cuhk, out, '--shard', f'{i}/2')
        except BaseException as err:  # noqa: BLE001 (reported below)
            errors.append(err)

    threads = [threading.Thread(target=shard, args=(i, )) for i in (0, 1)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert not errors, errors
    written = [r for r in results.values() if r is not None]
    assert written, results
    assert len(read_data_final(written[0][0])) == _train_captions(cuhk)
    assert not [f for f in os.listdir(out) if f.startswith('.tmp_')]


def _fake_masks(mask_tool, monkeypatch, seen):
    """Stand-in Person-SAM: records which records are segmented."""
    monkeypatch.setattr(mask_tool, 'build_model', lambda *a: None)

    def segment(model, record, image_path, seg_dir, batch_size,
                input_aspect=None):
        seen.append((record['idx'], input_aspect))
        phrases = mask_tool.flatten_attributes(record['attribute'])
        return {mask_tool.seg_stem(record['idx'], record['name'], i):
                dict(score=0.5, text=p) for i, p in enumerate(phrases)}

    monkeypatch.setattr(mask_tool, 'segment_record', segment)


def test_masks_redo_changed_records_and_models(cuhk, tmp_path, monkeypatch,
                                               split_tool, mask_tool):
    out = tmp_path / 'out'
    data_final, _ = _split(split_tool, cuhk, out)
    ckpt = tmp_path / 'a.pth'
    ckpt.write_bytes(b'weights A')
    seen = []
    _fake_masks(mask_tool, monkeypatch, seen)

    def run(checkpoint, *options):
        return mask_tool.main([MASK_CFG, '--checkpoint', str(checkpoint),
                               '--cfg-options', f'data_root={cuhk}',
                               f'out_dir={out}', *options])

    run(ckpt)
    records = read_data_final(data_final)
    assert sorted(seen) == sorted((r['idx'], None) for r in records)
    # One record's phrases change: only it is redone, the dict follows.
    records[3]['attribute'] = ['a purple scarf']
    with open(data_final, 'w') as f:
        json.dump(records, f)
    seen.clear()
    score_path = run(ckpt)
    assert seen == [(records[3]['idx'], None)]
    texts = {v['text'] for k, v in read_score_dict(score_path).items()
             if k.startswith(f'{records[3]["idx"]}_')}
    assert texts == {'a purple scarf'}
    # Another Person-SAM checkpoint redoes every record.
    other = tmp_path / 'b.pth'
    other.write_bytes(b'weights B')
    seen.clear()
    run(other)
    assert len(seen) == len(records)
    # So does another input aspect, which reaches every record.
    seen.clear()
    run(other, 'input_aspect=0.6')
    assert sorted(seen) == sorted((r['idx'], 0.6) for r in records)


def test_person_sam_counts_as_trained_only_when_training_finished(
        tmp_path, monkeypatch, pipeline_tool):
    atr = tmp_path / 'ATR'
    atr.mkdir()
    for split in ('train', 'dev', 'test'):
        (atr / f'atr_item_descriptions_{split}.json').write_text('[]')
    args = pipeline_tool.parse_args(['--train-person-sam', '--work-dir',
                                     str(tmp_path / 'work'), '--data-root',
                                     str(tmp_path)])
    commands = []

    def fake_run(cmd):
        commands.append(cmd)
        work_dir = cmd[cmd.index('--work-dir') + 1]
        os.makedirs(work_dir, exist_ok=True)
        open(osp.join(work_dir, 'epoch_2.pth'), 'w').close()
        if len(commands) == 2:                  # the resumed run finishes
            open(osp.join(work_dir, 'best_mIoU_epoch_4.pth'), 'w').close()
        else:
            raise subprocess.CalledProcessError(-9, cmd)   # killed

    monkeypatch.setattr(pipeline_tool, 'run', fake_run)
    with pytest.raises(subprocess.CalledProcessError):
        pipeline_tool.train_person_sam(args, str(atr))
    best = pipeline_tool.train_person_sam(args, str(atr))
    assert '--resume' in commands[1] and '--resume' not in commands[0]
    assert best.endswith('best_mIoU_epoch_4.pth')
    # Finished: a rerun trains nothing; other phrases train a new model.
    assert pipeline_tool.train_person_sam(args, str(atr)) == best
    assert len(commands) == 2
    (atr / 'atr_item_descriptions_train.json').write_text(
        '[{"name": "1.jpg", "idx": "1", "text": "a hat"}]')
    with pytest.raises(subprocess.CalledProcessError):
        pipeline_tool.train_person_sam(args, str(atr))
    assert commands[2][commands[2].index('--work-dir') + 1] != \
        commands[0][commands[0].index('--work-dir') + 1]


def test_part_mask_shards_run_at_once_and_a_failure_is_raised(
        pipeline_tool, monkeypatch):
    """``--part-mask-shards n`` starts n ``--shard i/n`` processes, one
    torch thread each, waits for all of them and fails if one fails."""
    started = []

    class FakeProc:
        def __init__(self, cmd, cwd, env):
            started.append((cmd, env))
            self.returncode = 3 if '1/3' in cmd else 0

        def wait(self):
            return self.returncode

    monkeypatch.setattr(pipeline_tool.subprocess, 'Popen', FakeProc)
    cmd = ['tools/data/generate_part_masks.py', 'cfg.py', '--checkpoint',
           'ps.pth']
    with pytest.raises(subprocess.CalledProcessError, match='1/3'):
        pipeline_tool.run_shards(cmd, 3)
    assert [c[1:5] for c, _ in started] == [
        ['tools/data/generate_part_masks.py', 'cfg.py', '--shard',
         f'{i}/3'] for i in range(3)]
    assert all(env['OMP_NUM_THREADS'] == '1' for _, env in started)
    with pytest.raises(ValueError, match='>= 1'):
        pipeline_tool.run_shards(cmd, 0)
