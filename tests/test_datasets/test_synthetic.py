"""Tests of the procedural synthetic benchmark (sapsam.datasets.synthetic)."""
import hashlib
import importlib.util
import itertools
import json
import os
import os.path as osp
import re

import numpy as np
import pytest
from PIL import Image

from sapsam.datasets.synthetic import (ATR_CLASSES, GROUP_LABELS,
                                       attribute_difference,
                                       generate_synthetic_benchmark,
                                       mutate_identity, part_seg_stem,
                                       processed_tokens, sample_identity)
from sapsam.datasets.synthetic.attributes import COLOURS
from sapsam.datasets.synthetic.generator import MIN_PART_PIXELS

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
SCALE = 0.1
TBPR = {  # name: (annotation file, image path key, splits, captions/image)
    'CUHK-PEDES': ('reid_raw.json', 'file_path', {'train', 'val', 'test'},
                   (2, 3)),
    'ICFG-PEDES': ('ICFG-PEDES.json', 'file_path', {'train', 'test'}, (1, )),
    'RSTPReid': ('data_captions.json', 'img_path', {'train', 'val', 'test'},
                 (2, )),
}
KEYS = {
    'CUHK-PEDES': ['split', 'captions', 'file_path', 'processed_tokens', 'id'],
    'ICFG-PEDES': ['id', 'file_path', 'captions', 'processed_tokens', 'split'],
    'RSTPReid': ['id', 'img_path', 'captions', 'split'],
}
COLOUR_WORDS = {'grey': 'grey', 'gray': 'grey', **{c: c for c in COLOURS}}


@pytest.fixture(scope='module')
def root(tmp_path_factory):
    out = str(tmp_path_factory.mktemp('synthetic') / 'data')
    summary = generate_synthetic_benchmark(out, seed=0, scale=SCALE,
                                           progress=False)
    return out, summary


def _load(path):
    with open(path, encoding='utf-8') as f:
        return json.load(f)


def _array(path):
    return np.asarray(Image.open(path))


def _files(top):
    return sorted(osp.relpath(osp.join(d, f), top)
                  for d, _, fs in os.walk(top) for f in fs)


def _part_files(root_dir, name):
    finals = [f for f in os.listdir(osp.join(root_dir, name))
              if f.startswith(f'{name}_data_final_')]
    scores = [f for f in os.listdir(osp.join(root_dir, name))
              if f.startswith(f'{name}_score_dict_')]
    assert len(finals) == 1 and len(scores) == 1
    return finals[0], scores[0]


def _irra_train(name, annotations):
    """IRRA's caption-level train list (docs/fidelity.md F2) and num_classes."""
    path_key = TBPR[name][1]
    train, pids = [], set()
    entries = [a for a in annotations if a['split'] == 'train']
    for image_id, entry in enumerate(entries):
        pid = entry['id'] - 1 if name == 'CUHK-PEDES' else entry['id']
        pids.add(pid)
        for caption in entry['captions']:
            train.append((pid, image_id, f'imgs/{entry[path_key]}', caption))
    assert sorted(pids) == list(range(len(pids))), \
        f'{name}: train pids are not 0..N-1 after IRRA parsing'
    return train, len(pids)


# ------------------------------------------------------------------ formats
@pytest.mark.parametrize('name', list(TBPR))
def test_tbpr_annotation_format(root, name):
    out, summary = root
    ann_file, path_key, splits, n_captions = TBPR[name]
    annotations = _load(osp.join(out, name, ann_file))
    assert isinstance(annotations, list) and annotations
    for entry in annotations:
        assert list(entry) == KEYS[name]
        assert type(entry['id']) is int
        assert entry['split'] in splits
        assert len(entry['captions']) in n_captions
        assert all(isinstance(c, str) and c for c in entry['captions'])
        assert not entry[path_key].startswith('/')
        assert osp.isfile(osp.join(out, name, 'imgs', entry[path_key]))
        if 'processed_tokens' in entry:
            assert entry['processed_tokens'] == [
                processed_tokens(c) for c in entry['captions']]
            assert all(t == t.lower() and t.isascii() and ' ' not in t
                       for ts in entry['processed_tokens'] for t in ts)
    assert {e['split'] for e in annotations} == splits
    ids = {s: {e['id'] for e in annotations if e['split'] == s}
           for s in splits}
    for a, b in itertools.combinations(splits, 2):
        assert not ids[a] & ids[b], f'{name}: {a}/{b} ids overlap'
    if name == 'CUHK-PEDES':  # 1-based ids, train first
        assert min(ids['train']) == 1
        assert min(ids['val'] | ids['test']) > max(ids['train'])
        assert re.fullmatch(r'[A-Za-z0-9_]+/\d{7}\.png',
                            annotations[0]['file_path'])
    elif name == 'ICFG-PEDES':  # MSMT17-style folders, .jpg
        assert all(re.fullmatch(r'(train|test)/(\d{4})/\2_c\d+_\d{4}\.jpg',
                                e['file_path']) for e in annotations)
    else:
        assert all(re.fullmatch(r'\d{4}_c\d+_\d{4}\.jpg', e['img_path'])
                   for e in annotations)
    _, num_classes = _irra_train(name, annotations)
    assert num_classes == summary[name]['train']['ids'] >= 4
    # splits hold whole identities; CUHK splits mix in the file order
    assert sum(summary[name][s]['images'] for s in splits) == len(annotations)


@pytest.mark.parametrize('name', list(TBPR))
def test_part_files_follow_irra_train_order(root, name):
    out, _ = root
    annotations = _load(osp.join(out, name, TBPR[name][0]))
    train, _ = _irra_train(name, annotations)
    final_file, score_file = _part_files(out, name)
    assert final_file == f'{name}_data_final_{len(train)}.json'
    assert score_file == f'{name}_score_dict_{len(train) - 1}.json'
    data_final = _load(osp.join(out, name, final_file))
    assert len(data_final) == len(train)
    for data_id, record in enumerate(data_final):
        assert list(record) == ['name', 'attribute', 'idx', 'sentence']
        assert record['idx'] == data_id  # CUHK's data_id naming works too
        pid, _, img_path, caption = train[record['idx']]
        assert record['name'].startswith('/')
        assert img_path.split('imgs')[-1] == record['name']  # ICFG/RSTP
        assert record['sentence'] == caption
        assert record['attribute'] and all(
            isinstance(p, str) and p.lower() in caption.lower()
            for p in record['attribute'])


@pytest.mark.parametrize('name', list(TBPR))
def test_segs_equal_label_map_group_union(root, name):
    out, _ = root
    final_file, score_file = _part_files(out, name)
    data_final = _load(osp.join(out, name, final_file))
    score_dict = _load(osp.join(out, name, score_file))
    attributes = {e['path']: e for e in
                  _load(osp.join(out, name, 'synthetic_attributes.json'))}
    caption_of = {}
    for entry in attributes.values():
        for caption in entry['captions']:
            caption_of[(entry['path'], caption['text'])] = caption
    referenced = set()
    for record in data_final:
        path = record['name'][1:]
        image = _array(osp.join(out, name, 'imgs', path))
        label_map = _array(osp.join(out, name, 'labels',
                                    osp.splitext(path)[0] + '.png'))
        assert label_map.shape == image.shape[:2]
        caption = caption_of[(path, record['sentence'])]
        assert caption['phrases'] == record['attribute']
        for i, (phrase, group) in enumerate(zip(caption['phrases'],
                                                caption['groups'])):
            stem = '_'.join([str(record['idx'])] +
                            record['name'][:-4].split('/') + [str(i)])
            assert stem == part_seg_stem(record['idx'], record['name'], i)
            assert stem.startswith(f'{record["idx"]}__')
            seg = Image.open(osp.join(out, name, 'segs', stem + '.png'))
            assert seg.mode == 'L'
            mask = np.asarray(seg)
            assert mask.shape == image.shape[:2]
            assert set(np.unique(mask)) <= {0, 1}
            assert mask.sum() >= MIN_PART_PIXELS
            np.testing.assert_array_equal(
                mask, np.isin(label_map, GROUP_LABELS[group]))
            assert score_dict[stem]['text'] == phrase
            assert 0.0 <= score_dict[stem]['score'] <= 1.0
            referenced.add(stem)
    seg_files = {f[:-4] for f in os.listdir(osp.join(out, name, 'segs'))}
    assert referenced == seg_files == set(score_dict)


def test_images_match_label_maps(root):
    """Label boundaries are image edges and garments have their colour."""
    out, _ = root
    names, palette = list(COLOURS), np.array(list(COLOURS.values()), float)
    edge_grad, flat_grad, hits, total = [], [], 0, 0
    for entry in _load(osp.join(out, 'CUHK-PEDES',
                                'synthetic_attributes.json')):
        image = _array(osp.join(out, 'CUHK-PEDES', 'imgs',
                                entry['path'])).astype(float)
        label_map = _array(osp.join(out, 'CUHK-PEDES', 'labels',
                                    entry['path'][:-4] + '.png'))
        height, width = label_map.shape
        assert 128 <= height <= 200 and 48 <= width <= 80
        assert label_map.max() < len(ATR_CLASSES)
        assert {11, 2} <= set(np.unique(label_map)) or \
            entry['view'] == 'back' or entry['occlusion']
        edge = label_map[:, 1:] != label_map[:, :-1]
        grad = np.abs(np.diff(image, axis=1)).sum(-1)
        edge_grad.append(grad[edge].mean())
        flat_grad.append(grad[~edge].mean())
        lower = np.isin(label_map, (5, 6, 7))
        if lower.sum() >= 30:
            colour = np.median(image[lower], axis=0)
            nearest = names[int(((palette - colour)**2).sum(1).argmin())]
            hits += nearest == entry['attributes']['lower']['colour']
            total += 1
    assert np.mean(edge_grad) > 3 * np.mean(flat_grad)
    assert total >= 20 and hits / total >= 0.8


def test_atr_format_and_split_by_image(root):
    out, summary = root
    atr = osp.join(out, 'ATR')
    with open(osp.join(atr, 'atr_label.txt'), encoding='utf-8') as f:
        text = f.read()
    assert [line.split() for line in text.split('\n')] == [
        [name, str(i)] for i, name in enumerate(ATR_CLASSES)]
    official = '/work/shared/data/atr_label.txt'
    if osp.isfile(official):
        with open(official, encoding='utf-8') as f:
            assert text == f.read()
    images = set(os.listdir(osp.join(atr, 'JPEGImages')))
    names = {}
    for split in ('train', 'dev', 'test'):
        records = _load(osp.join(atr, f'atr_item_descriptions_{split}.json'))
        assert len(records) == summary['ATR'][split]['records'] > 0
        names[split] = {r['name'] for r in records}
        for record in records:
            assert list(record) == ['name', 'idx', 'text']
            assert record['name'] in images
            assert record['idx'] in GROUP_LABELS  # string group key
            assert 1 <= len(record['text'].split()) <= 8
            image = Image.open(osp.join(atr, 'JPEGImages', record['name']))
            label = Image.open(osp.join(atr, 'SegmentationClassAug',
                                        record['name'][:-4] + '.png'))
            assert label.mode == 'L' and label.size == image.size
            label_map = np.asarray(label)
            assert (label_map == int(record['idx'])).any()
            assert np.isin(label_map, GROUP_LABELS[record['idx']]).sum() \
                >= MIN_PART_PIXELS
        pairs = [(r['name'], r['idx']) for r in records]
        assert len(pairs) == len(set(pairs))
    assert not names['train'] & names['dev']
    assert not names['train'] & names['test']
    assert not names['dev'] & names['test']
    assert names['train'] | names['dev'] | names['test'] == images
    n = len(images)
    assert len(names['train']) == round(0.8 * n)
    assert len(names['dev']) == round(0.1 * n)


# ----------------------------------------------------------------- content
@pytest.mark.parametrize('name', list(TBPR))
def test_captions_describe_visible_attributes(root, name):
    out, _ = root
    for entry in _load(osp.join(out, name, 'synthetic_attributes.json')):
        attrs = entry['attributes']
        label_map = _array(osp.join(out, name, 'labels',
                                    osp.splitext(entry['path'])[0] + '.png'))
        assert len(entry['captions']) in TBPR[name][3]
        texts = [c['text'] for c in entry['captions']]
        assert len(set(texts)) == len(texts) or len(texts) == 1
        for caption in entry['captions']:
            assert caption['phrases'] and \
                len(caption['phrases']) == len(caption['groups'])
            positions = [caption['text'].lower().find(p)
                         for p in caption['phrases']]
            assert min(positions) >= 0 and positions == sorted(positions)
            for phrase, group in zip(caption['phrases'], caption['groups']):
                assert np.isin(label_map, GROUP_LABELS[group]).sum() \
                    >= MIN_PART_PIXELS
                part = {'1': 'hat', '2': 'hair', '4': 'upper', '5': 'lower',
                        '6': 'lower', '7': 'lower', '9': 'shoes',
                        '16': 'bag'}.get(group)
                if part is None:  # glasses
                    assert attrs['glasses'] in phrase
                    continue
                colours = [COLOUR_WORDS[w] for w in re.findall(r'[a-z]+',
                                                               phrase)
                           if w in COLOUR_WORDS]
                if part == 'hair':
                    assert phrase.endswith('hair')
                elif colours:  # first colour word is the item's colour
                    assert colours[0] == attrs[part]['colour'], (phrase,
                                                                 attrs)


def test_captions_are_clip_span_findable(root):
    """Every phrase is an exact BPE sub-sequence of its tokenized caption."""
    from sapsam.models.tokenizers import CLIPTokenizer
    tokenizer = CLIPTokenizer()
    out, _ = root
    final_file, _ = _part_files(out, 'CUHK-PEDES')
    for record in _load(osp.join(out, 'CUHK-PEDES', final_file)):
        ids = tokenizer.tokenize(record['sentence']).tolist()
        for phrase in record['attribute']:
            sub = tokenizer.encode(phrase)
            assert any(ids[i:i + len(sub)] == sub for i in range(len(ids)))


def test_near_duplicate_identities(root):
    out, _ = root
    rng = np.random.default_rng(0)
    for _ in range(300):
        attrs = sample_identity(rng)
        twin, key = mutate_identity(rng, attrs)
        assert attribute_difference(attrs, twin) == [key]
    for name in TBPR:
        identities = {}
        for entry in _load(osp.join(out, name, 'synthetic_attributes.json')):
            identities[entry['id']] = (entry['split'], entry['attributes'])
        close_pairs = 0
        for (a_split, a), (b_split, b) in itertools.combinations(
                identities.values(), 2):
            diff = attribute_difference(a, b)
            assert diff, f'{name}: two identities share all attributes'
            close_pairs += len(diff) == 1 and a_split == b_split
        assert close_pairs >= 2, f'{name}: no near-duplicate identities'


def test_no_two_images_identical(root):
    out, _ = root
    digests = set()
    count = 0
    for name in list(TBPR) + ['ATR']:
        top = osp.join(out, name, 'JPEGImages' if name == 'ATR' else 'imgs')
        for rel in _files(top):
            digests.add(hashlib.sha1(_array(osp.join(top, rel)).tobytes())
                        .hexdigest())
            count += 1
    assert count > 200 and len(digests) == count


# ------------------------------------------------------------- determinism
def test_same_seed_same_bytes_other_seed_differs(root, tmp_path):
    out, summary = root
    again = str(tmp_path / 'again')
    assert generate_synthetic_benchmark(again, seed=0, scale=SCALE,
                                        progress=False) == summary
    files = _files(out)
    assert files == _files(again)
    for rel in files:
        a, b = osp.join(out, rel), osp.join(again, rel)
        if rel.endswith(('.png', '.jpg')):
            np.testing.assert_array_equal(_array(a), _array(b))
        else:
            with open(a, 'rb') as fa, open(b, 'rb') as fb:
                assert fa.read() == fb.read(), rel
    # a data set does not depend on which others are generated
    alone = str(tmp_path / 'alone')
    generate_synthetic_benchmark(alone, seed=0, scale=SCALE,
                                 datasets=('RSTPReid', ), progress=False)
    assert os.listdir(alone) and not osp.exists(osp.join(alone, 'ATR'))
    for rel in ('RSTPReid/data_captions.json',
                'RSTPReid/synthetic_attributes.json'):
        with open(osp.join(out, rel), 'rb') as fa, \
                open(osp.join(alone, rel), 'rb') as fb:
            assert fa.read() == fb.read()
    other = str(tmp_path / 'other')
    generate_synthetic_benchmark(other, seed=1, scale=SCALE,
                                 datasets=('CUHK-PEDES', ), progress=False)
    ann = 'CUHK-PEDES/reid_raw.json'
    assert _load(osp.join(out, ann)) != _load(osp.join(other, ann))
    first = _load(osp.join(other, ann))[0]['file_path']
    assert not osp.exists(osp.join(out, 'CUHK-PEDES/imgs', first)) or \
        not np.array_equal(_array(osp.join(out, 'CUHK-PEDES/imgs', first)),
                           _array(osp.join(other, 'CUHK-PEDES/imgs', first)))


# --------------------------------------------------------- CLI and errors
def _cli():
    path = osp.join(REPO_ROOT, 'tools', 'dataset_converters',
                    'generate_synthetic.py')
    spec = importlib.util.spec_from_file_location('generate_synthetic', path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_cli_skips_complete_output_and_regenerates_on_change(tmp_path):
    cli = _cli()
    out = str(tmp_path / 'cli')
    args = ['--out', out, '--scale', '0.03', '--datasets', 'RSTPReid',
            '--no-progress']
    assert cli.main(args) is True
    manifest = _load(osp.join(out, 'synthetic_manifest.json'))
    assert manifest['arguments']['datasets'] == ['RSTPReid']
    ann = osp.join(out, 'RSTPReid', 'data_captions.json')
    stamp = os.stat(ann).st_mtime_ns
    assert cli.main(args) is False  # complete: nothing to do
    assert os.stat(ann).st_mtime_ns == stamp
    assert cli.main(args + ['--force']) is True
    before = _load(ann)
    assert cli.main(args + ['--seed', '3']) is True  # other arguments
    assert _load(ann) != before
    # an interrupted run (no manifest) is regenerated
    os.remove(osp.join(out, 'synthetic_manifest.json'))
    assert cli.main(args + ['--seed', '3']) is True


def test_bad_arguments_and_foreign_directories(tmp_path):
    with pytest.raises(ValueError, match='scale'):
        generate_synthetic_benchmark(str(tmp_path), scale=0)
    with pytest.raises(ValueError, match='MSMT17'):
        generate_synthetic_benchmark(str(tmp_path), datasets=('MSMT17', ))
    with pytest.raises(ValueError, match='seed'):
        generate_synthetic_benchmark(str(tmp_path), seed=-1)
    real = tmp_path / 'CUHK-PEDES'
    real.mkdir()
    (real / 'reid_raw.json').write_text('[]')
    with pytest.raises(FileExistsError, match='not a synthetic data set'):
        generate_synthetic_benchmark(str(tmp_path), scale=0.03,
                                     datasets=('CUHK-PEDES', ),
                                     progress=False)
    assert (real / 'reid_raw.json').read_text() == '[]'
