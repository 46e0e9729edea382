"""The search inferencer's own seams: its state lives on the inferencer (not
on the model), ``prototype=``/``prototype_cache=`` reuse a fresh index, and
the index decides whether it still describes a gallery. A random tiny
retriever; no training."""
import os
import os.path as osp

import numpy as np
import pytest
import torch
from PIL import Image

from sapsam.apis import GalleryIndex, TextToImageRetrievalInferencer
from sapsam.apis.gallery_index import read_gallery

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CONFIG = osp.join(REPO, 'configs/baseline/clip_sdm_synthetic.py')


def _folder(root, num=4):
    os.makedirs(root, exist_ok=True)
    rng = np.random.default_rng(0)
    for i in range(num):
        pixels = rng.integers(0, 255, (48, 24, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(osp.join(root, f'person_{i}.png'))
    return root


def _index_of(gallery):
    infos, source = read_gallery(gallery)
    feats = torch.nn.functional.normalize(torch.randn(len(infos), 8), dim=1)
    return GalleryIndex(feats, [i['img_path'] for i in infos], {}, {},
                        source=source)


def test_index_freshness_of_folders_and_file_lists(tmp_path):
    folder = _folder(str(tmp_path / 'photos'))
    index = _index_of(folder)
    assert index.is_fresh(folder)
    assert not index.is_fresh(_folder(str(tmp_path / 'elsewhere')))
    files = sorted(osp.join(folder, f) for f in os.listdir(folder))
    assert not index.is_fresh(files)  # another kind of gallery
    # A new image, or a rewritten one, makes it stale.
    Image.new('RGB', (24, 48)).save(osp.join(folder, 'person_9.png'))
    assert not index.is_fresh(folder)
    listed = _index_of(files)
    assert listed.is_fresh(files) and not listed.is_fresh(files[:2])


@pytest.fixture(scope='module')
def inferencer():
    torch.manual_seed(0)
    return TextToImageRetrievalInferencer(CONFIG, device='cpu')


def test_state_is_the_inferencers_not_the_models(inferencer):
    model = inferencer.model
    for name in ('cfg', 'checkpoint_path', '_sapsam_identity'):
        assert name not in model.__dict__
    assert inferencer.cfg.filename == CONFIG and inferencer.checkpoint is None
    first = inferencer.identity()
    assert inferencer.identity() == first
    # The model is reached explicitly; the inferencer does not pose as it.
    assert not hasattr(inferencer, 'backbone')
    state = model.state_dict()
    state['backbone.ln_final.bias'] = state['backbone.ln_final.bias'] + 0.01
    model.load_state_dict(state)  # new weights, new identity
    assert inferencer.identity()['weights_hash'] != first['weights_hash']
    with pytest.raises(ValueError, match='no gallery to search'):
        inferencer('a man')


def test_prototype_cache_is_reused_while_the_gallery_is_unchanged(
        inferencer, tmp_path):
    from sapsam.apis import IndexMismatchError
    folder = _folder(str(tmp_path / 'photos'))
    cache = str(tmp_path / 'photos.index')
    built = TextToImageRetrievalInferencer(
        inferencer.cfg, device='cpu', prototype=folder,
        prototype_cache=cache, progress=False)
    assert GalleryIndex.is_index(cache) and len(built.prototype) == 4
    said = []
    index = built.prepare_prototype(folder, cache, log=said.append)
    assert said == [f'reusing index {cache} (4 images)']
    assert built.prototype is index
    hits = built(['a man in black', 'a woman'], topk=2)
    assert [len(h) for h in hits] == [2, 2]
    assert hits == built.search(['a man in black', 'a woman'], topk=2,
                                index=GalleryIndex.load(cache))
    # Another model refuses the cache instead of rebuilding over it.
    with pytest.raises(IndexMismatchError, match='built by another model'):
        inferencer.prepare_prototype(folder, cache)
    Image.new('RGB', (24, 48)).save(osp.join(folder, 'person_9.png'))
    said.clear()
    assert len(built.prepare_prototype(folder, cache, progress=False,
                                       log=said.append)) == 5
    assert said == [
        f'index {cache} is out of date (the gallery changed): rebuilding',
        f'encoding the gallery {folder}', f'saved index {cache} (5 images)']
