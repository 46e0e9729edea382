"""Stage 3 and 4 tools end to end, resuming, and the loader round trip."""
import json
import os
import os.path as osp

import mmcv
import numpy as np
import pytest
import torch

from sapsam.datasets import CUHKPEDES
from sapsam.parts.formats import read_data_final, read_score_dict, seg_stem
from tests import helpers
from tests.helpers import REPO, load_script

split_tool = load_script('tools/data/split_captions.py')
mask_tool = load_script('tools/data/generate_part_masks.py')
SPLIT_CFG = osp.join(REPO,
                     'configs/parts/split_captions_rule_synthetic_cuhk.py')
MASK_CFG = osp.join(REPO, 'configs/parts/part_masks_synthetic_cuhk.py')


def run_split(root, out, *extra):
    return split_tool.main([SPLIT_CFG, '--cfg-options',
                            f'dataset.data_root={root}', f'out_dir={out}',
                            *extra])


def test_split_tool_writes_official_files_errors_and_resumes(tmp_path,
                                                             monkeypatch):
    flat = helpers.write_cuhk(str(tmp_path / 'CUHK'), (2, 2))
    # One caption the rule splitter cannot split.
    ann = json.loads((tmp_path / 'CUHK/reid_raw.json').read_text())
    ann[1]['captions'][1] = 'Walking down the street.'
    (tmp_path / 'CUHK/reid_raw.json').write_text(json.dumps(ann))
    out = tmp_path / 'out'
    assert run_split(tmp_path / 'CUHK', out, '--shard', '1/2') is None
    data_final, err_list = run_split(tmp_path / 'CUHK', out, '--shard', '0/2')
    assert osp.basename(data_final) == 'CUHK-PEDES_data_final_4.json'
    records = read_data_final(data_final)
    assert [r['idx'] for r in records] == [0, 1, 2]
    assert records[0] == dict(
        name='/CUHK01/0000000.png',
        attribute=['a red coat', 'blue pants', 'white shoes'], idx=0,
        sentence=flat[0][1])
    assert (out / 'CUHK-PEDES_err_list.txt').read_text() == (
        '3\t/CUHK01/0000001.png\tWalking down the street.\t'
        'no appearance phrase found\n')

    # Resume: nothing left to do, the splitter is never built.
    def fail(*args, **kwargs):
        raise AssertionError('splitter built although all work is done')

    monkeypatch.setattr(split_tool.TASK_UTILS, 'build', fail)
    run_split(tmp_path / 'CUHK', out)
    monkeypatch.undo()
    # --retry-errors redoes only the failed caption; the newer answer
    # replaces the error recorded by the sharded run.
    from sapsam.parts.caption_splitters import SplitResult
    asked = []

    class Retry:
        def split(self, captions):
            asked.append(list(captions))
            return [SplitResult(['the street'])] * len(captions)

    monkeypatch.setattr(split_tool.TASK_UTILS, 'build',
                        lambda cfg: Retry())
    data_final, _ = run_split(tmp_path / 'CUHK', out, '--retry-errors')
    assert asked == [['Walking down the street.']]
    assert read_data_final(data_final)[3]['attribute'] == ['the street']
    assert (out / 'CUHK-PEDES_err_list.txt').read_text() == ''


@pytest.fixture(scope='module')
def bert_dir(tmp_path_factory):
    return helpers.build_tiny_bert(str(tmp_path_factory.mktemp('bert')))


def test_mask_tool_shards_resumes_and_round_trips(tmp_path, bert_dir,
                                                  monkeypatch):
    root, out = tmp_path / 'CUHK', tmp_path / 'out'
    helpers.write_cuhk(str(root), (2, 1, 2))
    run_split(root, out)
    options = helpers.tiny_person_sam_options(bert_dir)
    # "Trained" weights: a seeded random model saved as a checkpoint.
    from mmengine.config import Config
    from mmengine.registry import init_default_scope
    from sapsam.registry import MODELS
    cfg = Config.fromfile(MASK_CFG)
    cfg.merge_from_dict(dict(o.split('=', 1) for o in options[:1]))
    cfg.model.image_encoder.init_cfg = None
    cfg.model.mask_decoder.init_cfg = None
    init_default_scope('sapsam')
    torch.manual_seed(1)
    reference = MODELS.build(cfg.model).eval()
    ckpt = str(tmp_path / 'person_sam.pth')
    torch.save(dict(state_dict=reference.state_dict()), ckpt)

    def run(*extra):
        return mask_tool.main([MASK_CFG, '--checkpoint', ckpt,
                               '--cfg-options', f'data_root={root}',
                               f'out_dir={out}', *options, *extra])

    assert run('--shard', '0/2') is None          # odd records still to do
    score_path = run('--shard', '1/2')
    assert osp.basename(score_path) == 'CUHK-PEDES_score_dict_4.json'
    scores = read_score_dict(score_path)
    records = read_data_final(str(out / 'CUHK-PEDES_data_final_5.json'))
    expected_stems = {seg_stem(r['idx'], r['name'], i)
                      for r in records for i in range(len(r['attribute']))}
    assert set(scores) == expected_stems
    assert set(os.listdir(out / 'segs')) == {s + '.png'
                                            for s in expected_stems}
    # Masks and scores are the checkpoint's: compare with the reference.
    rec = records[2]
    image = mmcv.imread(str(root / 'imgs' / rec['name'][1:]),
                        channel_order='rgb')
    with torch.no_grad():
        ref_masks, ref_scores = reference.segment_phrases(image,
                                                          rec['attribute'])
    for i, phrase in enumerate(rec['attribute']):
        stem = seg_stem(2, rec['name'], i)
        mask = mmcv.imread(str(out / 'segs' / f'{stem}.png'),
                           flag='unchanged')
        assert mask.shape == image.shape[:2] and mask.dtype == np.uint8
        assert set(np.unique(mask)) <= {0, 1}
        assert (mask == ref_masks[i]).all()
        assert scores[stem] == dict(score=pytest.approx(float(ref_scores[i])),
                                    text=phrase)

    # Resume: a rerun builds no model and rewrites the same score dict.
    before = open(score_path, 'rb').read()
    monkeypatch.setattr(mask_tool, 'build_model', lambda *a: 1 / 0)
    assert run() == score_path
    assert open(score_path, 'rb').read() == before
    # The same under torchrun (one gloo rank): rank 0 writes the dict.
    import socket
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        port = s.getsockname()[1]
    for key, value in dict(RANK='0', WORLD_SIZE='1', LOCAL_RANK='0',
                           MASTER_ADDR='127.0.0.1',
                           MASTER_PORT=str(port)).items():
        monkeypatch.setenv(key, value)
    os.remove(score_path)
    try:
        assert run('--launcher', 'pytorch') == score_path
    finally:
        torch.distributed.destroy_process_group()
    assert open(score_path, 'rb').read() == before

    # The loader reads the generated files back.
    dataset = CUHKPEDES(str(root), split='train', part_files=dict(
        data_final=str(out / 'CUHK-PEDES_data_final_5.json'),
        score_dict=score_path, seg_dir=str(out / 'segs')))
    info = dataset.get_data_info(2)
    assert info['part_phrases'] == rec['attribute']
    assert info['part_scores'] == pytest.approx(
        [float(s) for s in ref_scores])


EXPECTED_CONFIGS = {
    'atr_phrases_blip2.py': 'generator',
    'atr_phrases_template_synthetic.py': 'generator',
    'split_captions_llm_cuhk.py': 'splitter',
    'split_captions_llm_icfg.py': 'splitter',
    'split_captions_llm_rstp.py': 'splitter',
    'split_captions_rule_synthetic_cuhk.py': 'splitter',
    'split_captions_rule_synthetic_icfg.py': 'splitter',
    'split_captions_rule_synthetic_rstp.py': 'splitter',
    'part_masks_mca_cuhk.py': 'model',
    'part_masks_mca_icfg.py': 'model',
    'part_masks_mca_rstp.py': 'model',
    'part_masks_synthetic_cuhk.py': 'model',
    'part_masks_synthetic_icfg.py': 'model',
    'part_masks_synthetic_rstp.py': 'model',
}


def test_every_parts_config_parses():
    from mmengine.config import Config
    from sapsam.registry import MODELS, TASK_UTILS
    cfg_dir = osp.join(REPO, 'configs/parts')
    found = sorted(f for f in os.listdir(cfg_dir) if f.endswith('.py'))
    assert found == sorted(EXPECTED_CONFIGS)
    registries = dict(generator=TASK_UTILS, splitter=TASK_UTILS,
                      model=MODELS)
    for name, key in EXPECTED_CONFIGS.items():
        cfg = Config.fromfile(osp.join(cfg_dir, name))
        assert cfg.default_scope == 'sapsam'
        component = cfg[key]['type']
        assert isinstance(component, type) and \
            registries[key].get(component.__name__) is component, name
        if key == 'model':
            short = name[:-3].rsplit('_', 1)[1]
            assert cfg.dataset_name == dict(cuhk='CUHK-PEDES',
                                            icfg='ICFG-PEDES',
                                            rstp='RSTPReid')[short]
            # Stage 4 never fills a disk cache with every train image.
            assert 'cache_dir' not in cfg.model.embedding_cache
        else:
            assert cfg.out_dir
    for leaf in ('configs/sapsam/elca_cuhk.py',
                 'configs/sapsam/elca_synthetic.py'):
        pipeline = Config.fromfile(
            osp.join(REPO, leaf)).train_dataloader.dataset.pipeline
        names = [t['type'].__name__ for t in pipeline]
        assert names.index('MergePartMasks') < names.index('Resize') < \
            names.index('PatchLabels') < names.index('FindPhraseSpans') < \
            names.index('PartAwareMaskTokens') < names.index('PackTBPRInputs')
