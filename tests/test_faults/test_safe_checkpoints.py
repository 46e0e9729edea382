"""No entry point unpickles a crafted checkpoint without the opt-in; bad
checkpoint files give errors that name them."""
import glob
import os
import os.path as osp
import shutil

import pytest
import torch

from sapsam.utils.checkpoint_compat import (TRUST_ENV, TRUST_FLAG,
                                            CheckpointError,
                                            load_local_checkpoint)



class _Payload:
    """Unpickling this creates ``marker`` (harmless stand-in for code)."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, 'w'))


@pytest.fixture
def payload(tmp_path):
    """``(checkpoint path, marker path)`` of a crafted checkpoint."""
    marker = str(tmp_path / 'PAYLOAD_RAN')
    path = str(tmp_path / 'crafted.pth')
    torch.save(dict(state_dict={}, meta=dict(x=_Payload(marker))), path)
    return path, marker


def _refused(call, marker):
    with pytest.raises(CheckpointError) as err:
        call()
    assert not osp.exists(marker), 'the payload ran'
    assert TRUST_FLAG in str(err.value) and TRUST_ENV in str(err.value)


def test_tools_refuse_payload(tools, synthetic_cuhk, payload, tmp_path,
                              monkeypatch, capsys):
    """tools/test.py, tools/train.py --resume, tools/search.py and
    generate_part_masks.py --checkpoint (their ``main``: an exception is a
    non-zero exit)."""
    monkeypatch.delenv(TRUST_ENV, raising=False)
    ckpt, marker = payload
    opts = tools.options(synthetic_cuhk, epochs=1)
    work = str(tmp_path / 'w')
    test_tool = tools.load('tools/test.py')
    train_tool = tools.load('tools/train.py')
    search_tool = tools.load('tools/search.py')
    mask_tool = tools.load('tools/data/generate_part_masks.py')
    _refused(lambda: test_tool.main([tools.BASELINE, ckpt, '--work-dir',
                                     work, '--cfg-options', *opts]), marker)
    _refused(lambda: train_tool.main([tools.BASELINE, '--work-dir', work,
                                      '--resume', ckpt, '--cfg-options',
                                      *opts]), marker)
    # tools/search.py reports errors as one line and exits 2.
    capsys.readouterr()
    with pytest.raises(SystemExit):
        search_tool.main([tools.BASELINE, ckpt, '--gallery',
                          osp.join(synthetic_cuhk, 'imgs'), '--query',
                          'a man', '--index', str(tmp_path / 'index')])
    err = capsys.readouterr().err
    assert TRUST_FLAG in err and TRUST_ENV in err and not osp.exists(marker)
    out_dir = tmp_path / 'parts'
    out_dir.mkdir()
    (final, ) = glob.glob(osp.join(synthetic_cuhk,
                                   'CUHK-PEDES_data_final_*.json'))
    shutil.copy(final, out_dir)
    _refused(lambda: mask_tool.main([
        osp.join(tools.REPO, 'configs/parts/part_masks_synthetic_cuhk.py'),
        '--checkpoint', ckpt, '--out-dir', str(out_dir), '--cfg-options',
        f'data_root={synthetic_cuhk}']), marker)
    # The opt-in does unpickle it (so the refusals above are the loader's).
    monkeypatch.setenv(TRUST_ENV, '1')
    load_local_checkpoint(ckpt)
    assert osp.exists(marker)


def test_api_refuses_payload(tools, payload, monkeypatch):
    from sapsam.apis import init_retriever
    ckpt, marker = payload
    monkeypatch.delenv(TRUST_ENV, raising=False)
    with pytest.raises(CheckpointError, match=TRUST_ENV):
        init_retriever(tools.BASELINE, ckpt)
    assert not osp.exists(marker)


@pytest.mark.parametrize('content, problem', [
    (b'', 'empty file'),
    (b'<html>404 Not Found</html>', 'not a PyTorch checkpoint'),
    (b'version https://git-lfs.github.com/spec/v1\n', 'LFS pointer'),
])
def test_bad_checkpoint_files_are_named(tmp_path, content, problem):
    path = tmp_path / 'bad.pth'
    path.write_bytes(content)
    with pytest.raises(CheckpointError, match=problem) as err:
        load_local_checkpoint(str(path))
    assert str(path) in str(err.value)


def test_truncated_checkpoint_is_named(tmp_path):
    path = str(tmp_path / 'full.pth')
    torch.save(dict(state_dict=dict(w=torch.zeros(1000))), path)
    with open(path, 'rb') as f:
        data = f.read()
    cut = str(tmp_path / 'cut.pth')
    with open(cut, 'wb') as f:
        f.write(data[:len(data) // 2])
    with pytest.raises(CheckpointError, match='truncated') as err:
        load_local_checkpoint(cut)
    assert cut in str(err.value)
    assert load_local_checkpoint(path)['state_dict']['w'].shape == (1000, )


def test_import_sapsam_installs_nothing():
    """The loader is installed by the entry points, not by ``import
    sapsam`` (which must not import mmengine.runner)."""
    import subprocess
    import sys
    code = ('import sys, sapsam; '
            'print("mmengine.runner" in sys.modules)')
    out = subprocess.run([sys.executable, '-c', code], capture_output=True,
                         text=True, env=dict(os.environ), check=True)
    assert out.stdout.strip() == 'False'


def test_checkpoints_are_safe_and_written_atomically(trained_baseline,
                                                     tmp_path, monkeypatch):
    """Training writes checkpoints that ``weights_only`` loading accepts,
    through the atomic backend: a failed write keeps the old file and
    leaves no temp file."""
    from mmengine.fileio import get_file_backend
    from sapsam.utils.checkpoint_compat import (
        patch_mmengine_checkpoint_loading)
    umask = os.umask(0o022)
    os.umask(umask)
    for name in ('epoch_1.pth', 'epoch_2.pth', 'last_checkpoint'):
        path = osp.join(trained_baseline, name)
        assert os.stat(path).st_mode & 0o777 == 0o666 & ~umask
        if name.endswith('.pth'):
            assert torch.serialization.get_unsafe_globals_in_checkpoint(
                path) == []
    assert not [f for f in os.listdir(trained_baseline)
                if f.startswith('.tmp_')]
    patch_mmengine_checkpoint_loading()
    target = tmp_path / 'epoch_3.pth'
    target.write_bytes(b'previous checkpoint')
    backend = get_file_backend(str(target),
                               backend_args=dict(backend='atomic_local'))

    def killed(*args):
        raise KeyboardInterrupt   # a kill between write and rename

    monkeypatch.setattr(os, 'replace', killed)
    with pytest.raises(KeyboardInterrupt):
        backend.put(b'new checkpoint' * 1000, str(target))
    assert target.read_bytes() == b'previous checkpoint'
    assert os.listdir(tmp_path) == ['epoch_3.pth']
