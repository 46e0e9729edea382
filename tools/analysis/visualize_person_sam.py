"""Draw Person-SAM's masks: image, phrase, predicted mask, ground truth.

Examples::

    # records of the config's test split (ground truth from the ATR maps)
    python tools/analysis/visualize_person_sam.py \\
        configs/person_sam/mca_atr_synthetic.py work_dirs/psam/best.pth \\
        --out-dir work_dirs/vis_person_sam --num-images 8
    # any image and phrases (no ground truth)
    python tools/analysis/visualize_person_sam.py CONFIG CKPT \\
        --image person.jpg --phrase "a red jacket" --phrase "black pants"

One picture per image (a row per phrase) and ``summary.json`` with the
score and IoU of every drawn phrase.
"""
import argparse
import json
import os
import os.path as osp
import sys
from collections import OrderedDict

sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(
    __file__)))))

import mmcv  # noqa: E402
import numpy as np  # noqa: E402
from mmengine.config import Config, DictAction  # noqa: E402
from mmengine.registry import DefaultScope  # noqa: E402
from mmengine.runner import load_checkpoint  # noqa: E402


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Pictures of Person-SAM phrase masks')
    parser.add_argument('config', help='Person-SAM config')
    parser.add_argument('checkpoint', nargs='?',
                        help='trained Person-SAM checkpoint (omit to draw '
                        'the untrained prompt path, e.g. to check a setup)')
    parser.add_argument('--split', default='test', choices=['val', 'test'],
                        help="which of the config's dataloaders to draw")
    parser.add_argument('--image', help='draw this image instead')
    parser.add_argument('--phrase', action='append', default=[],
                        help='phrase for --image (repeatable)')
    parser.add_argument('--num-images', type=int, default=8)
    parser.add_argument('--max-phrases', type=int, default=6,
                        help='phrases drawn per image')
    parser.add_argument('--out-dir', default='work_dirs/vis_person_sam')
    parser.add_argument('--device', default='cpu')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config settings, e.g. '
                        'model.image_encoder.init_cfg.checkpoint=PATH')
    args = parser.parse_args(argv)
    if args.image and not args.phrase:
        parser.error('--image needs at least one --phrase')
    return args


def build_person_sam(config: str, checkpoint=None, device='cpu',
                     cfg_options=None):
    """Build Person-SAM from its config and load a trained checkpoint, or
    without one the pretrained SAM/BERT weights of the config's paths."""
    from sapsam.registry import MODELS
    from sapsam.utils import register_all_modules
    cfg = Config.fromfile(config)
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    register_all_modules(init_default_scope=False)
    with DefaultScope.overwrite_default_scope(cfg.get('default_scope',
                                                      'sapsam')):
        model = MODELS.build(cfg.model)
    if not hasattr(model, 'segment_phrases'):
        raise TypeError(f'{config}: {type(model).__name__} has no '
                        'segment_phrases(); is this a Person-SAM config?')
    if checkpoint:
        load_checkpoint(model, checkpoint, map_location='cpu', strict=True)
    else:
        model.init_weights()  # pretrained parts from their init_cfg
    model.cfg = cfg
    return model.to(device).eval()


def records_by_image(cfg: Config, split: str, num_images: int,
                     max_phrases: int):
    """``{img_path: [data info, ...]}`` of the first ``num_images`` images
    of the split's dataset, in file order."""
    from sapsam.registry import DATASETS
    loader = cfg.get(f'{split}_dataloader')
    if not loader:
        raise KeyError(f'{cfg.filename} has no {split}_dataloader')
    with DefaultScope.overwrite_default_scope(cfg.get('default_scope',
                                                      'sapsam')):
        dataset = DATASETS.build(dict(loader['dataset'], pipeline=[]))
    groups = OrderedDict()
    for i in range(len(dataset)):
        info = dataset.get_data_info(i)
        if info['img_path'] not in groups:
            if len(groups) == num_images:
                continue
            groups[info['img_path']] = []
        if len(groups[info['img_path']]) < max_phrases:
            groups[info['img_path']].append(info)
    return groups


def ground_truth(info: dict) -> np.ndarray:
    """The record's binary mask (the training target)."""
    from sapsam.datasets.transforms import LoadPhraseMask
    return LoadPhraseMask()(dict(info))['gt_seg_map'].astype(bool)


def main(argv=None):
    args = parse_args(argv)
    from sapsam.apis.person_sam_inference import segment_phrases
    from sapsam.visualization import PersonSAMVisualizer
    from sapsam.visualization.person_sam_visualizer import mask_iou
    model = build_person_sam(args.config, args.checkpoint, args.device,
                             args.cfg_options)
    if args.image:
        jobs = [(args.image, [dict(text=p) for p in args.phrase])]
    else:
        jobs = list(records_by_image(model.cfg, args.split, args.num_images,
                                     args.max_phrases).items())
    visualizer = PersonSAMVisualizer()
    os.makedirs(args.out_dir, exist_ok=True)
    summary = []
    for n, (img_path, infos) in enumerate(jobs):
        image = mmcv.imread(img_path, channel_order='rgb')
        if image is None:
            raise FileNotFoundError(f'cannot read image {img_path}')
        phrases = [info['text'] for info in infos]
        masks, scores = segment_phrases(model, image, phrases)
        gts = [ground_truth(info) if 'seg_map_path' in info else None
               for info in infos]
        name = f'{n:03d}_{osp.splitext(osp.basename(img_path))[0]}.png'
        visualizer.add_phrase_masks(osp.basename(img_path), image, phrases,
                                    masks, scores, gts,
                                    out_file=osp.join(args.out_dir, name))
        for phrase, mask, score, gt in zip(phrases, masks, scores, gts):
            summary.append(dict(
                image=img_path, phrase=phrase, score=float(score),
                iou=None if gt is None else mask_iou(mask, gt),
                picture=name))
    ious = [s['iou'] for s in summary if s['iou'] is not None]
    result = dict(pictures=len(jobs), phrases=len(summary),
                  mean_iou=float(np.mean(ious)) if ious else None,
                  records=summary)
    with open(osp.join(args.out_dir, 'summary.json'), 'w',
              encoding='utf-8') as f:
        json.dump(result, f, indent=1)
    iou_text = '' if result['mean_iou'] is None else \
        f', mean IoU of the drawn phrases {result["mean_iou"]:.3f}'
    print(f'wrote {len(jobs)} pictures ({len(summary)} phrases){iou_text} '
          f'to {args.out_dir}')
    return result


if __name__ == '__main__':
    main()
