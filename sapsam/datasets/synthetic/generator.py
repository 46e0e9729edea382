"""Procedural synthetic benchmark in the official TBPR and ATR formats.

``generate_synthetic_benchmark(out_dir)`` writes, under ``out_dir``::

    CUHK-PEDES/reid_raw.json, imgs/<subdir>/<file>.png
    ICFG-PEDES/ICFG-PEDES.json, imgs/{train,test}/<id>/<file>.jpg
    RSTPReid/data_captions.json, imgs/<file>.jpg
    <TBPR>/<TBPR>_data_final_<N>.json      oracle s03 phrases (N captions)
    <TBPR>/<TBPR>_score_dict_<N-1>.json    oracle s04 scores
    <TBPR>/segs/<stem>.png                 oracle s04 0/1 masks
    <TBPR>/labels/<image path stem>.png    ATR label map of every image
    <TBPR>/synthetic_attributes.json       per image: id, split, attributes,
                                           caption phrases and their groups
    ATR/JPEGImages/*.jpg, SegmentationClassAug/*.png, atr_label.txt,
    ATR/atr_item_descriptions_{train,dev,test}.json (split by image 8:1:1)
    synthetic_manifest.json                generation arguments + summary

Everything is a pure function of ``(seed, scale)``: each identity and image
draws from its own ``numpy`` generator seeded by ``(seed, dataset, kind,
index)``, so selecting fewer datasets does not change the others.
"""
import json
import os
import os.path as osp
import shutil
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
from mmengine.logging import print_log
from mmengine.utils import ProgressBar

from .attributes import (GROUP_LABELS, identity_signature, mutate_identity,
                         sample_identity)
from .captions import (GROUP_PARTS, compose_caption, describe_part,
                       part_group, processed_tokens)
from .renderer import render_pedestrian
from .writers import (atr_label_text, part_seg_stem, write_image,
                      write_json)

GENERATOR_VERSION = 2
DATASETS = ('CUHK-PEDES', 'ICFG-PEDES', 'RSTPReid', 'ATR')
MANIFEST_FILE = 'synthetic_manifest.json'
DATASET_MARKER = '.sapsam_synthetic'
# A part is described only if its mask has at least this many pixels.
MIN_PART_PIXELS = 6
ATR_PREFIXES = ('dataset10k', '4565', '2500', '997', 'fash', 'Multi')
CUHK_SUBDIRS = ('CUHK01', 'CUHK03', 'Market', 'test_query', 'train_query')


@dataclass(frozen=True)
class _TBPRSpec:
    """Layout of one TBPR data set."""
    code: int  # stream id of the data set's random generators
    ann_file: str
    path_key: str  # 'file_path' or 'img_path'
    ids: Tuple[Tuple[str, int], ...]  # (split, number of ids at scale 1)
    images_per_id: Tuple[int, int]  # inclusive range
    captions: int
    first_train_id: int  # CUHK ids are 1-based
    extra_caption_prob: float = 0.0  # CUHK: a few images have 3 captions


TBPR_SPECS = {
    'CUHK-PEDES': _TBPRSpec(1, 'reid_raw.json', 'file_path',
                            (('train', 120), ('val', 60), ('test', 260)),
                            (3, 5), 2, 1, 0.03),
    'ICFG-PEDES': _TBPRSpec(2, 'ICFG-PEDES.json', 'file_path',
                            (('train', 120), ('test', 40)), (3, 5), 1, 0),
    'RSTPReid': _TBPRSpec(3, 'data_captions.json', 'img_path',
                          (('train', 60), ('val', 15), ('test', 20)),
                          (5, 5), 2, 0),
}
ATR_CODE, ATR_IMAGES = 4, 400
PRETRAIN_CODE = 5  # stream of pretraining_corpus()


def _rng(seed: int, *stream: int) -> np.random.Generator:
    return np.random.default_rng([seed, *stream])


def _scaled(count: int, scale: float, minimum: int) -> int:
    return max(minimum, int(round(count * scale)))


def _tbpr_size(rng) -> Tuple[int, int]:
    """(H, W) of a TBPR image: 128-200 px high, 48-80 px wide."""
    height = int(rng.integers(128, 201))
    width = int(np.clip(round(height * rng.uniform(0.36, 0.46)), 48, 80))
    return height, width


def _visible_parts(attrs: dict, label_map: np.ndarray) -> List[str]:
    """Describable parts whose mask has >= MIN_PART_PIXELS pixels."""
    counts = np.bincount(label_map.ravel(), minlength=18)
    parts = []
    for part in ('hat', 'hair', 'glasses', 'upper', 'lower', 'shoes', 'bag'):
        if part not in ('hair', 'lower') and not attrs[part]:
            continue
        ids = GROUP_LABELS[part_group(attrs, part)]
        if counts[list(ids)].sum() >= MIN_PART_PIXELS:
            parts.append(part)
    return parts


def _make_identities(rng, count: int, seen: set) -> List[Tuple[dict, int]]:
    """``count`` unique identities in families of near-duplicates.

    A family is a fresh identity plus 0-2 copies that each differ from a
    family member in exactly one attribute; the first family has at least
    two members when ``count >= 2``.

    Returns:
        list: ``(attrs, family index)`` in shuffled order.
    """
    identities: List[Tuple[dict, int]] = []
    family = 0
    while len(identities) < count:
        root = sample_identity(rng)
        while identity_signature(root) in seen:
            root = sample_identity(rng)
        seen.add(identity_signature(root))
        members = [root]
        size = 1 + int(rng.random() < 0.5) + int(rng.random() < 0.25)
        if family == 0:
            size = max(size, 2)
        size = min(size, count - len(identities))
        for _ in range(50 * size):
            if len(members) >= size:
                break
            twin, _ = mutate_identity(rng, members[int(rng.integers(
                len(members)))])
            if identity_signature(twin) not in seen:
                seen.add(identity_signature(twin))
                members.append(twin)
        identities += [(m, family) for m in members]
        family += 1
    order = rng.permutation(len(identities))
    return [identities[i] for i in order]


def _image_path(name: str, rng, raw_id: int, k: int, folder: str) -> str:
    """Relative image path in the data set's naming style."""
    if name == 'CUHK-PEDES':
        return f'{folder}/{raw_id:04d}{k:03d}.png'
    cam = int(rng.integers(1, 16))
    if name == 'ICFG-PEDES':  # folder follows MSMT17, not the ICFG split
        return f'{folder}/{raw_id:04d}/{raw_id:04d}_c{cam}_{k:04d}.jpg'
    return f'{raw_id:04d}_c{cam}_{k:04d}.jpg'


def _prepare_dir(path: str) -> None:
    """Empty a previous synthetic output; refuse to touch anything else."""
    if osp.isdir(path) and os.listdir(path):
        if not osp.isfile(osp.join(path, DATASET_MARKER)):
            raise FileExistsError(
                f'{path} exists and is not a synthetic data set (no '
                f'{DATASET_MARKER} file): refusing to overwrite it')
        shutil.rmtree(path)
    os.makedirs(path, exist_ok=True)
    with open(osp.join(path, DATASET_MARKER), 'w', encoding='utf-8') as f:
        f.write('written by sapsam.datasets.synthetic\n')


def _split_identities(rng, spec: _TBPRSpec, scale: float,
                      seen: set) -> List[Tuple[str, dict, str]]:
    """``(split, attrs, family)`` of every identity of a TBPR set.

    All identities are drawn as one pool of near-duplicate families and
    dealt to the splits in shuffled order, so a family's members (one
    attribute apart) land in different splits as often as in the same one.
    """
    counts = [(split, _scaled(count, scale, 4 if split == 'train' else 2))
              for split, count in spec.ids]
    pool = _make_identities(rng, sum(c for _, c in counts), seen)
    dealt, start = [], 0
    for split, count in counts:
        dealt += [(split, attrs, f'family-{family}')
                  for attrs, family in pool[start:start + count]]
        start += count
    return dealt


def _plan_tbpr(name: str, spec: _TBPRSpec, seed: int,
               scale: float) -> Tuple[List[dict], List[dict]]:
    """Identities and per-image entries (in file order) of a TBPR set."""
    rng = _rng(seed, spec.code, 0)
    seen: set = set()
    identities, images = [], []
    next_id = spec.first_train_id
    dealt = _split_identities(rng, spec, scale, seen)
    # ICFG image folders are MSMT17 person ids, unrelated to the json ids
    folder_ids = rng.permutation(max(10000, 2 * len(dealt)))
    for split, attrs, family in dealt:
        identity = dict(id=next_id, split=split, family=family,
                        attributes=attrs)
        identities.append(identity)
        next_id += 1
        lo, hi = spec.images_per_id
        n_images = int(rng.integers(lo, hi + 1))
        folder = (CUHK_SUBDIRS[int(rng.integers(len(CUHK_SUBDIRS)))]
                  if name == 'CUHK-PEDES' else
                  ('train', 'test')[int(rng.integers(2))])
        raw = (identity['id'] if name != 'ICFG-PEDES' else
               int(folder_ids[len(identities)]))
        frames = np.sort(rng.choice(np.arange(1, 1000), n_images,
                                    replace=False))
        for k in frames:
            n_captions = spec.captions + int(
                rng.random() < spec.extra_caption_prob)
            images.append(dict(
                identity=identity, number=len(images),
                path=_image_path(name, rng, raw, int(k), folder),
                n_captions=n_captions))
    order = rng.permutation(len(images))
    return identities, [images[i] for i in order]


def benchmark_signatures(seed: int, scale: float = 1.0) -> set:
    """Signatures of every identity of the TBPR sets of ``(seed, scale)``
    (planned only, nothing rendered)."""
    from .attributes import identity_signature
    return {identity_signature(identity['attributes'])
            for name, spec in TBPR_SPECS.items()
            for identity in _plan_tbpr(name, spec, seed, scale)[0]}


def pretraining_corpus(num_ids: int, seed: int = 0, images_per_id: int = 4,
                       captions_per_image: int = 2,
                       exclude: Optional[set] = None) -> List[dict]:
    """Rendered pedestrians for pretraining the lab's encoders, in memory.

    Identities are drawn from their own random stream and never share a
    signature with ``exclude`` (e.g. :func:`benchmark_signatures`), so what
    is pretrained on them transfers to the benchmark without seeing it.

    Returns:
        list[dict]: Per image ``id`` (int), ``attributes``, ``image``
        (uint8 ``(H, W, 3)``),
        ``label_map`` (uint8 ``(H, W)``, ATR labels) and ``captions``
        (list of str).
    """
    rng = _rng(seed, PRETRAIN_CODE, 0)
    seen = set(exclude or ())
    corpus = []
    for index, (attrs, _) in enumerate(_make_identities(rng, num_ids, seen)):
        for k in range(images_per_id):
            image_rng = _rng(seed, PRETRAIN_CODE, 1, index, k)
            rendered = render_pedestrian(attrs, image_rng,
                                         _tbpr_size(image_rng))
            parts = _visible_parts(attrs, rendered.label_map)
            captions = _captions(attrs, parts, image_rng, captions_per_image)
            corpus.append(dict(id=index, attributes=attrs,
                               image=rendered.image,
                               label_map=rendered.label_map,
                               captions=[c[0] for c in captions]))
    return corpus


def _captions(attrs: dict, parts: List[str], rng, count: int) -> List[tuple]:
    """``count`` distinct captions (retrying a few times on a repeat)."""
    captions: List[tuple] = []
    for _ in range(count):
        caption = compose_caption(attrs, parts, rng)
        for _ in range(5):
            if caption[0] not in [c[0] for c in captions]:
                break
            caption = compose_caption(attrs, parts, rng)
        captions.append(caption)
    return captions


def _annotation(name: str, spec: _TBPRSpec, image: dict,
                captions: List[str]) -> dict:
    """One entry of the official annotation file, keys in official order."""
    identity = image['identity']
    tokens = [processed_tokens(c) for c in captions]
    if name == 'CUHK-PEDES':
        return dict(split=identity['split'], captions=captions,
                    file_path=image['path'], processed_tokens=tokens,
                    id=identity['id'])
    if name == 'ICFG-PEDES':
        return dict(id=identity['id'], file_path=image['path'],
                    captions=captions, processed_tokens=tokens,
                    split=identity['split'])
    return dict(id=identity['id'], img_path=image['path'], captions=captions,
                split=identity['split'])


def _generate_tbpr(name: str, root: str, seed: int, scale: float,
                   progress: bool) -> dict:
    spec = TBPR_SPECS[name]
    _prepare_dir(root)
    identities, images = _plan_tbpr(name, spec, seed, scale)
    annotations, attributes_out, data_final, score_dict = [], [], [], {}
    bar = ProgressBar(len(images)) if progress else None
    for image in images:
        identity = image['identity']
        rng = _rng(seed, spec.code, 1, image['number'])
        rendered = render_pedestrian(identity['attributes'], rng,
                                     _tbpr_size(rng))
        parts = _visible_parts(identity['attributes'], rendered.label_map)
        captions = _captions(identity['attributes'], parts, rng,
                             image['n_captions'])
        write_image(osp.join(root, 'imgs', image['path']), rendered.image)
        write_image(osp.join(root, 'labels',
                             osp.splitext(image['path'])[0] + '.png'),
                    rendered.label_map)
        annotations.append(_annotation(name, spec, image,
                                       [c[0] for c in captions]))
        attributes_out.append(dict(
            path=image['path'], id=identity['id'], split=identity['split'],
            family=identity['family'], attributes=identity['attributes'],
            view=rendered.meta['view'], occlusion=rendered.meta['occlusion'],
            captions=[dict(text=c[0], phrases=c[1], groups=c[2])
                      for c in captions]))
        if identity['split'] == 'train':
            seg_name = '/' + image['path']
            for caption, phrases, groups in captions:
                idx = len(data_final)
                data_final.append(dict(name=seg_name, attribute=phrases,
                                       idx=idx, sentence=caption))
                for i, (phrase, group) in enumerate(zip(phrases, groups)):
                    stem = part_seg_stem(idx, seg_name, i)
                    mask = np.isin(rendered.label_map, GROUP_LABELS[group])
                    write_image(osp.join(root, 'segs', stem + '.png'),
                                mask.astype(np.uint8))
                    score_dict[stem] = dict(
                        score=round(float(rng.uniform(0.8, 0.99)), 4),
                        text=phrase)
        if bar is not None:
            bar.update()
    if bar is not None:
        print()
    n_train = len(data_final)
    write_json(osp.join(root, spec.ann_file), annotations)
    write_json(osp.join(root, f'{name}_data_final_{n_train}.json'),
               data_final)
    write_json(osp.join(root, f'{name}_score_dict_{n_train - 1}.json'),
               score_dict)
    write_json(osp.join(root, 'synthetic_attributes.json'), attributes_out)

    summary: Dict[str, dict] = {}
    for split, _ in spec.ids:
        entries = [a for a in annotations if a['split'] == split]
        summary[split] = dict(
            ids=len({a['id'] for a in entries}), images=len(entries),
            captions=sum(len(a['captions']) for a in entries))
    summary['segs'] = len(score_dict)
    summary['families'] = len({i['family'] for i in identities})
    return summary


def _generate_atr(root: str, seed: int, scale: float,
                  progress: bool) -> dict:
    _prepare_dir(root)
    n_images = _scaled(ATR_IMAGES, scale, 10)
    rng = _rng(seed, ATR_CODE, 0)
    counters = {p: int(rng.integers(1, 500)) for p in ATR_PREFIXES}
    names, records, attributes_out = [], {}, []
    bar = ProgressBar(n_images) if progress else None
    for number in range(n_images):
        prefix = ATR_PREFIXES[int(rng.integers(len(ATR_PREFIXES)))]
        counters[prefix] += int(rng.integers(1, 4))
        name = f'{prefix}_{counters[prefix]}.jpg'
        image_rng = _rng(seed, ATR_CODE, 1, number)
        attrs = sample_identity(image_rng)
        height = int(image_rng.integers(150, 221))
        width = int(round(height * image_rng.uniform(0.5, 0.68)))
        rendered = render_pedestrian(attrs, image_rng, (height, width),
                                     occlusion_prob=0.1)
        write_image(osp.join(root, 'JPEGImages', name), rendered.image)
        write_image(osp.join(root, 'SegmentationClassAug',
                             name[:-4] + '.png'), rendered.label_map)
        counts = np.bincount(rendered.label_map.ravel(), minlength=18)
        records[name] = [
            dict(name=name, idx=key,
                 text=describe_part(attrs, GROUP_PARTS[key], image_rng,
                                    style='atr'))
            for key, ids in GROUP_LABELS.items()
            if counts[int(key)] > 0 and counts[list(ids)].sum() >=
            MIN_PART_PIXELS]
        names.append(name)
        attributes_out.append(dict(name=name, attributes=attrs,
                                   view=rendered.meta['view'],
                                   occlusion=rendered.meta['occlusion']))
        if bar is not None:
            bar.update()
    if bar is not None:
        print()
    write_json(osp.join(root, 'synthetic_attributes.json'), attributes_out)
    with open(osp.join(root, 'atr_label.txt'), 'w', encoding='utf-8') as f:
        f.write(atr_label_text())

    order = [names[i] for i in rng.permutation(len(names))]
    n_train, n_dev = int(round(0.8 * len(order))), int(round(0.1 *
                                                            len(order)))
    splits = dict(train=order[:n_train], dev=order[n_train:n_train + n_dev],
                  test=order[n_train + n_dev:])
    summary = {}
    for split, split_names in splits.items():
        flat = [r for n in split_names for r in records[n]]
        flat = [flat[i] for i in rng.permutation(len(flat))]
        write_json(osp.join(root, f'atr_item_descriptions_{split}.json'),
                   flat)
        summary[split] = dict(images=len(split_names), records=len(flat))
    return summary


def _check_arguments(seed, scale, datasets) -> Tuple[str, ...]:
    if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool) \
            or seed < 0:
        raise ValueError(f'seed must be a non-negative int, got {seed!r}')
    if not isinstance(scale, (int, float)) or not scale > 0:
        raise ValueError(f'scale must be a positive number, got {scale!r}')
    if isinstance(datasets, str):
        datasets = (datasets, )
    unknown = [d for d in datasets if d not in DATASETS]
    if unknown or not datasets:
        raise ValueError(f'datasets must be a non-empty subset of {DATASETS},'
                         f' got {list(datasets)} (unknown: {unknown})')
    return tuple(d for d in DATASETS if d in datasets)


def generation_arguments(seed: int, scale: float,
                         datasets: Sequence[str]) -> dict:
    """The arguments recorded in (and compared with) the manifest."""
    return dict(version=GENERATOR_VERSION, seed=int(seed),
                scale=float(scale),
                datasets=list(_check_arguments(seed, scale, datasets)))


def read_manifest(out_dir: str) -> Optional[dict]:
    """The manifest of a complete generation in ``out_dir``, or None."""
    path = osp.join(out_dir, MANIFEST_FILE)
    if not osp.isfile(path):
        return None
    with open(path, encoding='utf-8') as f:
        return json.load(f)


def is_generated(out_dir: str, seed: int = 0, scale: float = 1.0,
                 datasets: Sequence[str] = DATASETS) -> bool:
    """Whether ``out_dir`` holds a complete generation with these arguments.

    Args:
        out_dir: Output root.
        seed: Seed of the wanted generation.
        scale: Scale of the wanted generation.
        datasets: Data sets of the wanted generation.

    Returns:
        bool: True if the manifest matches and every data set directory is
        still there.
    """
    manifest = read_manifest(out_dir)
    wanted = generation_arguments(seed, scale, datasets)
    if manifest is None or manifest.get('arguments') != wanted:
        return False
    return all(osp.isfile(osp.join(out_dir, d, DATASET_MARKER))
               for d in wanted['datasets'])


def generate_synthetic_benchmark(
        out_dir: str,
        seed: int = 0,
        scale: float = 1.0,
        datasets: Sequence[str] = DATASETS,
        progress: bool = True) -> dict:
    """Generate the procedural benchmark in the official file formats.

    Previous synthetic output of the selected data sets is replaced; a
    non-synthetic directory of the same name is never touched (error).
    The manifest ``synthetic_manifest.json`` is written last, so its
    presence means the generation is complete.

    Args:
        out_dir: Output root (e.g. ``data/synthetic``).
        seed: Seed; the output is a pure function of ``(seed, scale)``.
        scale: Multiplies the number of identities (ATR: images). At 1.0:
            CUHK-PEDES 120/60/260 train/val/test ids x 3-5 images (about
            2,100 test queries), ICFG-PEDES
            120/40 train/test ids x 3-5 images, RSTPReid 60/15/20 ids x 5
            images, ATR 400 images.
        datasets: Subset of ``('CUHK-PEDES', 'ICFG-PEDES', 'RSTPReid',
            'ATR')``.
        progress: Show a progress bar per data set.

    Returns:
        dict: Per data set, per split counts (TBPR: ids, images, captions,
        plus ``segs`` and ``families``; ATR: images, records).
    """
    arguments = generation_arguments(seed, scale, datasets)
    os.makedirs(out_dir, exist_ok=True)
    manifest = osp.join(out_dir, MANIFEST_FILE)
    if osp.isfile(manifest):
        os.remove(manifest)
    summary = {}
    for name in arguments['datasets']:
        print_log(f'synthetic benchmark: writing {name} to '
                  f'{osp.join(out_dir, name)}', logger='current')
        root = osp.join(out_dir, name)
        if name == 'ATR':
            summary[name] = _generate_atr(root, seed, scale, progress)
        else:
            summary[name] = _generate_tbpr(name, root, seed, scale, progress)
        print_log(f'synthetic benchmark: {name} {summary[name]}',
                  logger='current')
    write_json(manifest, dict(arguments=arguments, summary=summary))
    return summary
