"""Stage 1 never overwrites ATR annotation files it did not write."""
import os.path as osp

import pytest

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CFG = osp.join(REPO, 'configs/parts/atr_phrases_template_synthetic.py')


@pytest.fixture(scope='module')
def atr_root(tmp_path_factory):
    """A synthetic ATR folder holding "official" phrase files."""
    from sapsam.datasets.synthetic import generate_synthetic_benchmark
    out = str(tmp_path_factory.mktemp('atr'))
    generate_synthetic_benchmark(out, seed=1, scale=0.05, datasets=('ATR', ))
    return osp.join(out, 'ATR')


def _run(tools, root, out):
    return tools.load('tools/data/generate_atr_phrases.py').main(
        [CFG, '--cfg-options', f'data_root={root}', f'out_dir={out}'])


def test_official_files_are_never_overwritten(atr_root, tools):
    official = osp.join(atr_root, 'atr_item_descriptions_dev.json')
    before = open(official, 'rb').read()
    with pytest.raises(FileExistsError, match='--out-dir') as err:
        _run(tools, atr_root, atr_root)
    assert official in str(err.value)
    assert open(official, 'rb').read() == before


def test_own_files_are_rewritten_edited_ones_are_not(atr_root, tmp_path,
                                                     tools):
    out = tmp_path / 'generated'
    assert _run(tools, atr_root, out)
    assert _run(tools, atr_root, out)  # its own files: fine to rewrite
    dev = out / 'atr_item_descriptions_dev.json'
    dev.write_text(dev.read_text().replace('"text": "', '"text": "my '))
    with pytest.raises(FileExistsError, match=str(dev)):
        _run(tools, atr_root, out)
    assert '"text": "my ' in dev.read_text()


def test_split_tool_never_overwrites_official_files(atr_root, tools):
    official = osp.join(atr_root, 'atr_item_descriptions_dev.json')
    before = open(official, 'rb').read()
    with pytest.raises(FileExistsError, match='refusing to overwrite'):
        tools.load('tools/data/split_atr_phrases.py').main(
            [official, '--out-dir', atr_root])
    assert open(official, 'rb').read() == before


def test_output_of_a_run_without_manifest_is_the_tools_own(atr_root,
                                                           tmp_path, tools):
    """A folder with this tool's progress files but no manifest (written
    before manifests existed, e.g. an earlier demo) may be overwritten."""
    out = tmp_path / 'old_run'
    assert _run(tools, atr_root, out)
    (out / '.sapsam_generated.json').unlink()
    assert _run(tools, atr_root, out)
