"""Draw training samples after the pipeline: what the model is taught.

One picture per sample: the augmented image, the merged part masks, the
per-patch part labels on the ViT grid, and the caption with each phrase
span in its part's colour and the masked-language targets in brackets::

    python tools/analysis/browse_dataset.py configs/sapsam/elca_synthetic.py \\
        --num 4 --out-dir work_dirs/browse
    python tools/analysis/browse_dataset.py configs/sapsam/elca_cuhk.py \\
        --indices 0 17 42
"""
import argparse
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(
    __file__)))))

import numpy as np  # noqa: E402
from mmengine.config import DictAction  # noqa: E402
from mmengine.registry import DefaultScope  # noqa: E402

from sapsam.utils.setup_env import ConfigError, load_config  # noqa: E402


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('config', help='a training config')
    parser.add_argument('--indices', type=int, nargs='+',
                        help='dataset indices to draw (default: the first '
                        '--num)')
    parser.add_argument('--num', type=int, default=4)
    parser.add_argument('--out-dir', default='work_dirs/browse_dataset')
    parser.add_argument('--seed', type=int, default=0,
                        help='seed of the random augmentation')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config settings')
    return parser.parse_args(argv)


def run_pipeline(dataset, index: int) -> dict:
    """The sample's results dict just before packing."""
    results = dict(dataset.get_data_info(index))
    for transform in dataset.pipeline.transforms:
        if type(transform).__name__.startswith('Pack'):
            break
        results = transform(results)
        if results is None:
            raise ValueError(f'{type(transform).__name__} dropped sample '
                             f'{index}')
    return results


def sample_picture_inputs(results: dict, tokenizer, bgr: bool) -> dict:
    """Arguments of ``TrainingSampleVisualizer.draw_sample``."""
    image = np.asarray(results['img'])
    if image.ndim == 2:
        image = np.repeat(image[..., None], 3, axis=2)
    if bgr:
        image = image[..., ::-1]
    height, width = image.shape[:2]
    patch_labels = results.get('patch_labels')
    if patch_labels is not None:
        patch_labels = np.asarray(patch_labels)
        patch = int(round((height * width / patch_labels.size) ** 0.5))
        patch_labels = patch_labels.reshape(height // patch, width // patch)
    ids = [int(i) for i in np.asarray(results['text_ids'])]
    end = ids.index(tokenizer.eot_id) if tokenizer.eot_id in ids else len(ids)
    words = [tokenizer.decode([i]) for i in ids[1:end]]
    labels = results.get('mlm_labels')
    masked = [bool(labels is not None and int(labels[t]) != 0)
              for t in range(1, end)]
    spans = [tuple(int(v) for v in s) for s in
             np.asarray(results.get('part_spans', np.zeros((0, 2))))]
    return dict(image=np.ascontiguousarray(image),
                label_map=results.get('gt_seg_map'),
                patch_labels=patch_labels, tokens=words, spans=spans,
                phrases=list(results.get('part_phrases', [])),
                masked=masked)


def main(argv=None):
    args = parse_args(argv)
    from mmengine.runner import set_random_seed

    from sapsam.models.tokenizers import CLIPTokenizer
    from sapsam.registry import DATASETS
    from sapsam.utils import register_all_modules
    from sapsam.visualization import TrainingSampleVisualizer
    try:
        cfg = load_config(args.config, args.cfg_options)
    except ConfigError as err:  # missing file, syntax error, bad option
        raise SystemExit(f'error: {err}')
    register_all_modules(init_default_scope=False)
    set_random_seed(args.seed)
    with DefaultScope.overwrite_default_scope(cfg.get('default_scope',
                                                      'sapsam')):
        try:
            dataset = DATASETS.build(cfg.train_dataloader.dataset)
        except (FileNotFoundError, ValueError, KeyError) as err:
            raise SystemExit(f'error: {err}')
        indices = args.indices or list(range(min(args.num, len(dataset))))
        bad = [i for i in indices if not 0 <= i < len(dataset)]
        if bad:
            raise SystemExit(f'error: indices {bad} out of range (the '
                             f'dataset has {len(dataset)} samples)')
        preprocessor = cfg.model.get('data_preprocessor') or {}
        bgr = bool(preprocessor.get('bgr_to_rgb', True))
        tokenizer = CLIPTokenizer()
        visualizer = TrainingSampleVisualizer(
            name=f'browse_dataset_{id(args)}')
        written = []
        for index in indices:
            results = run_pipeline(dataset, index)
            out = osp.join(args.out_dir, f'sample_{index:06d}.png')
            rel = osp.relpath(results.get('img_path', '?'),
                              getattr(dataset, 'data_root', '') or '/')
            visualizer.draw_sample(
                **sample_picture_inputs(results, tokenizer, bgr),
                title=f'sample {index}: {rel} (person id '
                f'{results.get("pid")})', out_file=out)
            written.append(out)
            print(f'wrote {out}')
    return written


if __name__ == '__main__':
    main()
