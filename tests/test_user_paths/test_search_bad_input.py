"""Search on the files an engineer actually has: unreadable and deleted
images, corrupted or foreign gallery indices, blank query files, missing
folders and checkpoints. A random tiny retriever is enough (nothing here
depends on what the model learnt)."""
import json
import os
import os.path as osp

import numpy as np
import pytest
import torch
from PIL import Image

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CONFIG = osp.join(REPO, 'configs/baseline/clip_sdm_synthetic.py')


@pytest.fixture(scope='module')
def retriever(tmp_path_factory):
    """A random tiny retriever and its checkpoint file."""
    from sapsam.apis import init_retriever
    torch.manual_seed(0)
    model = init_retriever(CONFIG).model
    path = str(tmp_path_factory.mktemp('ckpt') / 'tiny.pth')
    torch.save(dict(state_dict=model.state_dict(), meta={}), path)
    return dict(model=init_retriever(CONFIG, path), checkpoint=path)


def _gallery(root, num=6, broken=('broken.jpg', 'empty.png')):
    os.makedirs(root, exist_ok=True)
    rng = np.random.default_rng(0)
    for i in range(num):
        pixels = rng.integers(0, 255, (48, 24, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(osp.join(root, f'person_{i}.png'))
    for name in broken:
        with open(osp.join(root, name), 'wb') as f:
            f.write(b'not an image' if 'broken' in name else b'')
    return root


def test_unreadable_images_are_skipped_and_listed(retriever, tmp_path,
                                                  capsys, load_tool):
    from sapsam.apis import build_gallery_index, search_gallery
    root = _gallery(str(tmp_path / 'gallery'))
    index = build_gallery_index(retriever['model'], root, batch_size=4,
                                progress=False)
    assert len(index) == 6
    skipped = {osp.basename(s['path']) for s in index.source['skipped']}
    assert skipped == {'broken.jpg', 'empty.png'}
    hits = search_gallery(retriever['model'], index, 'a man', topk=10)[0]
    assert len(hits) == 6 and all('person_' in h['path'] for h in hits)
    # The command line lists them and still ranks the rest.
    tool = load_tool('tools/search.py')
    tool.main([CONFIG, retriever['checkpoint'], '--gallery', root,
               '--query', 'a man in black', '--index',
               str(tmp_path / 'idx'), '--no-progress'])
    out = capsys.readouterr().out
    assert 'skipped 2 unreadable images' in out
    assert 'broken.jpg' in out and 'empty.png' in out
    assert out.count('person_') == 6


def test_deleted_images_are_never_returned(retriever, tmp_path):
    from sapsam.apis import (build_gallery_index, load_gallery_index,
                             search_gallery)
    root = _gallery(str(tmp_path / 'gallery'), broken=())
    build_gallery_index(retriever['model'], root,
                        progress=False).save(str(tmp_path / 'idx'))
    os.remove(osp.join(root, 'person_2.png'))
    os.remove(osp.join(root, 'person_4.png'))
    with pytest.warns(UserWarning, match='2 of 6 images were deleted'):
        index = load_gallery_index(retriever['model'], str(tmp_path / 'idx'))
    hits = search_gallery(retriever['model'], index, 'a woman', topk=10)[0]
    paths = {osp.basename(h['path']) for h in hits}
    assert len(hits) == 4 and not paths & {'person_2.png', 'person_4.png'}
    for i in (0, 1, 3, 5):
        os.remove(osp.join(root, f'person_{i}.png'))
    with pytest.raises(FileNotFoundError, match='none of its 6 images'):
        with pytest.warns(UserWarning):
            load_gallery_index(retriever['model'], str(tmp_path / 'idx'))


@pytest.fixture
def saved_index(retriever, tmp_path):
    from sapsam.apis import build_gallery_index
    root = _gallery(str(tmp_path / 'gallery'), broken=())
    path = str(tmp_path / 'idx')
    build_gallery_index(retriever['model'], root, progress=False).save(path)
    return path


def _rewrite_features(path, features):
    meta_file = osp.join(path, 'index.json')
    with open(meta_file) as f:
        meta = json.load(f)
    meta.update(num_images=features.shape[0], dim=features.shape[1])
    with open(meta_file, 'w') as f:
        json.dump(meta, f)
    np.save(osp.join(path, 'features.npy'), features)


def test_corrupted_index_files_are_named(retriever, saved_index):
    from sapsam.apis import load_gallery_index
    feat_file = osp.join(saved_index, 'features.npy')
    with open(feat_file, 'rb') as f:
        data = f.read()
    with open(feat_file, 'wb') as f:
        f.write(data[:len(data) // 2])  # truncated
    with pytest.raises(ValueError, match='features.npy: corrupted'):
        load_gallery_index(retriever['model'], saved_index)
    # An object array would need pickle: refused, never unpickled.
    np.save(feat_file, np.array([{'a': 1}], dtype=object), allow_pickle=True)
    with pytest.raises(ValueError, match='features.npy: corrupted'):
        load_gallery_index(retriever['model'], saved_index)
    with open(osp.join(saved_index, 'index.json'), 'w') as f:
        f.write('{"format": "sapsam-gallery-index", "vers')
    with pytest.raises(ValueError, match='index.json: corrupted'):
        load_gallery_index(retriever['model'], saved_index)


def test_nan_unnormalised_and_foreign_size_rows_are_refused(retriever,
                                                            saved_index):
    from sapsam.apis import GalleryIndex, load_gallery_index
    good = GalleryIndex.load(saved_index).features.numpy()
    bad = good.copy()
    bad[3, 0] = np.nan
    _rewrite_features(saved_index, bad)
    with pytest.raises(ValueError, match=r'rows \[3\] hold NaN'):
        load_gallery_index(retriever['model'], saved_index)
    bad = good.copy()
    bad[1] *= 40  # would outrank everything in a cosine search
    _rewrite_features(saved_index, bad)
    with pytest.raises(ValueError, match=r'rows \[1\] are not L2-normal'):
        load_gallery_index(retriever['model'], saved_index)
    wider = np.concatenate([good, np.zeros((len(good), 8), good.dtype)], 1)
    _rewrite_features(saved_index, wider)
    dim = retriever['model'].model.backbone.embed_dim
    with pytest.raises(ValueError, match=f'{dim + 8} dimensions, this model '
                       f'makes {dim}'):
        load_gallery_index(retriever['model'], saved_index)


@pytest.mark.parametrize('case', ['blank_queries', 'missing_folder',
                                  'missing_checkpoint', 'missing_queries'])
def test_user_mistakes_give_one_line(case, retriever, tmp_path, capsys,
                                     load_tool):
    tool = load_tool('tools/search.py')
    root = _gallery(str(tmp_path / 'gallery'), num=2, broken=())
    queries = tmp_path / 'queries.txt'
    queries.write_text('\n   \n\n')
    checkpoint, gallery = retriever['checkpoint'], root
    query = ['--query-file', str(queries)]
    expected = 'queries.txt: no sentences'
    if case == 'missing_folder':
        gallery, query = str(tmp_path / 'nope'), ['--query', 'a man']
        expected = 'gallery folder not found'
    elif case == 'missing_checkpoint':
        checkpoint, query = str(tmp_path / 'none.pth'), ['--query', 'a man']
        expected = 'checkpoint not found'
    elif case == 'missing_queries':
        query = ['--query-file', str(tmp_path / 'absent.txt')]
        expected = 'query file not found'
    with pytest.raises(SystemExit) as exit_info:
        tool.main([CONFIG, checkpoint, '--gallery', gallery, *query,
                   '--index', str(tmp_path / 'idx'), '--no-progress'])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and expected in err, err
    assert 'Traceback' not in err
