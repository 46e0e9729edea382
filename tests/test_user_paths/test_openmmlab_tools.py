"""The tools OpenMMLab users reach for: print_config, browse_dataset,
analyze_logs, get_flops and the Slurm launchers."""
import json
import os
import os.path as osp
import stat
import subprocess

import numpy as np
import pytest
from PIL import Image

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
SAPSAM_CFG = osp.join(REPO, 'configs/sapsam/elca_synthetic.py')
BASELINE_CFG = osp.join(REPO, 'configs/baseline/clip_sdm_synthetic.py')


def test_print_config_shows_the_merged_config(tmp_path, capsys, load_tool):
    tool = load_tool('tools/misc/print_config.py')
    out = str(tmp_path / 'merged.py')
    cfg = tool.main([SAPSAM_CFG, '--cfg-options', 'train_cfg.max_epochs=3',
                     '--out', out])
    text = capsys.readouterr().out
    assert 'max_epochs=3' in text and 'ELCAAlign' in text
    from mmengine.config import Config
    assert Config.fromfile(out).train_cfg.max_epochs == 3 == \
        cfg.train_cfg.max_epochs
    broken = tmp_path / 'broken.py'
    broken.write_text('model = dict(type=\n')
    with pytest.raises(SystemExit, match='broken.py: SyntaxError'):
        tool.main([str(broken)])
    with pytest.raises(SystemExit, match='config not found'):
        tool.main([str(tmp_path / 'none.py')])


@pytest.fixture(scope='module')
def synthetic_cuhk(tmp_path_factory):
    from sapsam.datasets.synthetic import generate_synthetic_benchmark
    out = str(tmp_path_factory.mktemp('synthetic'))
    generate_synthetic_benchmark(out, seed=2, scale=0.05,
                                 datasets=('CUHK-PEDES', ), progress=False)
    return osp.join(out, 'CUHK-PEDES')


def test_browse_dataset_draws_what_the_model_is_taught(synthetic_cuhk,
                                                       tmp_path, load_tool):
    tool = load_tool('tools/analysis/browse_dataset.py')
    written = tool.main([SAPSAM_CFG, '--indices', '0', '3', '--out-dir',
                         str(tmp_path), '--cfg-options',
                         f'train_dataloader.dataset.data_root='
                         f'{synthetic_cuhk}'])
    assert [osp.basename(p) for p in written] == ['sample_000000.png',
                                                  'sample_000003.png']
    assert all(Image.open(p).size[0] > 800 for p in written)
    # The drawn inputs are the pipeline's: patch labels on the 24x8 ViT
    # grid, part masks as the label map, each found span = its phrase.
    from mmengine.config import Config
    from mmengine.registry import DefaultScope

    from sapsam.models.tokenizers import CLIPTokenizer
    from sapsam.registry import DATASETS
    cfg = Config.fromfile(SAPSAM_CFG)
    cfg.train_dataloader.dataset.data_root = synthetic_cuhk
    with DefaultScope.overwrite_default_scope('sapsam'):
        dataset = DATASETS.build(cfg.train_dataloader.dataset)
        results = tool.run_pipeline(dataset, 0)
    inputs = tool.sample_picture_inputs(results, CLIPTokenizer(), bgr=True)
    assert inputs['patch_labels'].shape == (24, 8)
    assert set(np.unique(inputs['patch_labels'])) <= set(
        np.unique(inputs['label_map']))
    assert np.array_equal(inputs['image'], results['img'][..., ::-1])
    found = 0
    for (start, end), phrase in zip(inputs['spans'], inputs['phrases']):
        if start >= 1:
            # BPE may split a word ('overcoat' -> 'over', 'coat'): compare
            # the characters of the span with the phrase's.
            words = ''.join(inputs['tokens'][start - 1:end])
            assert words == phrase.lower().replace(' ', '')
            found += 1
    assert found >= 1
    assert sum(inputs['masked']) == int(
        (np.asarray(results['mlm_labels']) != 0).sum())


def _write_scalars(folder, losses, r1):
    path = osp.join(folder, '20261201_000000', 'vis_data', 'scalars.json')
    os.makedirs(osp.dirname(path))
    with open(path, 'w') as f:
        for i, loss in enumerate(losses, 1):
            f.write(json.dumps(dict(lr=1e-4, loss=loss, epoch=1 + i // 3,
                                    iter=i * 10, step=i * 10)) + '\n')
        for epoch, value in enumerate(r1, 1):
            f.write(json.dumps({'t2i/R1': value, 'step': epoch}) + '\n')
    return path


def test_analyze_logs_plots_several_runs(tmp_path, capsys, load_tool):
    tool = load_tool('tools/analysis/analyze_logs.py')
    a = _write_scalars(str(tmp_path / 'a'), [5.0, 4.0, 3.5, 3.6], [10, 14])
    _write_scalars(str(tmp_path / 'b'), [6.0, 5.0, 4.1, 3.9], [8, 16, 12])
    out = str(tmp_path / 'curves.png')
    runs = tool.main([str(tmp_path / 'a'), str(tmp_path / 'b'), '--keys',
                      'loss', 't2i/R1', '--legend', 'baseline', 'sapsam',
                      '--out', out])
    text = capsys.readouterr().out
    assert 'baseline: loss best 3.5000, last 3.6000 (4 points)' in text
    assert 'sapsam: t2i/R1 best 16.0000, last 12.0000 (3 points)' in text
    assert runs[0][1]['loss'][0] == (10.0, 5.0)  # x = iteration
    assert runs[1][1]['t2i/R1'][-1] == (3.0, 12.0)  # x = epoch
    assert Image.open(out).size == (1000, 360)
    assert tool.find_scalars(str(tmp_path / 'a')) == a
    with pytest.raises(SystemExit, match="no run logged 'mAP'.*t2i/R1"):
        tool.main([str(tmp_path / 'a'), '--keys', 'mAP', '--out', out])


def test_get_flops_counts_parameters_and_encoder_flops(capsys, load_tool):
    tool = load_tool('tools/analysis/get_flops.py')
    report = tool.main([BASELINE_CFG])
    rows = {name: total for name, total, _ in report['params']}
    assert rows['total'] == sum(v for k, v in rows.items() if k != 'total')
    # Analytic multiply-adds of the tiny ViT: 2 layers, width 64, patch 8,
    # 192x64 input -> N = 1 + 24*8 tokens; per layer 12 N D^2 (qkv, out,
    # MLP x4) + 2 N^2 D (attention), plus the patch embedding and the proj.
    n, d, layers = 193, 64, 2
    expected = layers * (12 * n * d * d + 2 * n * n * d) + \
        (n - 1) * (3 * 8 * 8) * d + n * d * 64
    flops = {what: count for what, _, count in report['flops']}
    assert flops['image encoder'] == pytest.approx(expected, rel=0.02)
    assert 'multiply-adds' in capsys.readouterr().out


@pytest.mark.parametrize('script,args,tool_args', [
    ('slurm_train.sh', ['gpu', 'sapsam', 'configs/sapsam/elca_cuhk.py',
                        'work_dirs/x', '--amp'],
     ['tools/train.py', 'configs/sapsam/elca_cuhk.py', '--work-dir',
      'work_dirs/x', '--launcher', 'slurm', '--amp']),
    ('slurm_test.sh', ['gpu', 'eval', 'configs/sapsam/elca_cuhk.py',
                       'best.pth', '--out', 'm.json'],
     ['tools/test.py', 'configs/sapsam/elca_cuhk.py', 'best.pth',
      '--launcher', 'slurm', '--out', 'm.json'])])
def test_slurm_scripts_launch_one_task_per_gpu(script, args, tool_args,
                                               tmp_path):
    fake = tmp_path / 'srun'  # records what srun would run
    fake.write_text('#!/usr/bin/env bash\nprintf "%s\\n" "$@" > '
                    f'{tmp_path}/argv\necho "$PYTHONPATH" > '
                    f'{tmp_path}/pythonpath\n')
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    env = dict(os.environ, PATH=f'{tmp_path}:{os.environ["PATH"]}', GPUS='16',
               GPUS_PER_NODE='8', CPUS_PER_TASK='6',
               SRUN_ARGS='--quotatype=auto --time=10')
    subprocess.run(['bash', osp.join('tools', script), *args], cwd=REPO,
                   env=env, check=True)
    argv = (tmp_path / 'argv').read_text().splitlines()
    assert argv[:9] == [
        f'--partition={args[0]}', f'--job-name={args[1]}', '--gres=gpu:8',
        '--ntasks=16', '--ntasks-per-node=8', '--cpus-per-task=6',
        '--kill-on-bad-exit=1', '--quotatype=auto', '--time=10']
    assert argv[9:11] == ['python3', '-u']
    assert [a.replace('tools/./', 'tools/').replace('tools/../', '')
            for a in argv[11:]] == tool_args
    assert (tmp_path / 'pythonpath').read_text().startswith('tools/..')
    # Too few arguments: usage, exit 2, srun never called.
    os.remove(tmp_path / 'argv')
    done = subprocess.run(['bash', osp.join('tools', script), 'gpu'],
                          cwd=REPO, env=env, capture_output=True, text=True)
    assert done.returncode == 2 and 'usage' in done.stderr
    assert not (tmp_path / 'argv').exists()
