"""Copy an ATR folder with every image and label map resized in width.

A probe of Person-SAM's sensitivity to the pedestrian's aspect: the
CUHK-PEDES-format images are narrower than ATR's, so scoring a checkpoint on
ATR narrowed to their aspect separates the shape from the other
differences. ``--factor 1.0`` is the control (the same JPEG re-encode).

    python tools/analysis/narrow_atr.py data/synthetic/ATR work_dirs/atr_narrow --factor 0.7
    python tools/test.py configs/lab/person_sam_mca.py CKPT \
        --cfg-options test_dataloader.dataset.data_root=work_dirs/atr_narrow
"""
import argparse
import os
import os.path as osp
import shutil

from PIL import Image


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('src', help='ATR folder (JPEGImages/, '
                        'SegmentationClassAug/, phrase files)')
    parser.add_argument('dst', help='output folder (replaced)')
    parser.add_argument('--factor', type=float, default=0.7,
                        help='new width / old width')
    parser.add_argument('--quality', type=int, default=95)
    args = parser.parse_args(argv)
    if not args.factor > 0:
        parser.error(f'--factor must be > 0, got {args.factor}')
    images, labels = 'JPEGImages', 'SegmentationClassAug'
    if osp.exists(args.dst):
        shutil.rmtree(args.dst)
    shutil.copytree(args.src, args.dst,
                    ignore=shutil.ignore_patterns(images, labels))
    for sub in (images, labels):
        os.makedirs(osp.join(args.dst, sub))
    aspects = []
    for name in sorted(os.listdir(osp.join(args.src, images))):
        stem = osp.splitext(name)[0]
        label_path = osp.join(args.src, labels, stem + '.png')
        if not osp.isfile(label_path):
            raise FileNotFoundError(f'{name}: no label map {label_path}')
        image = Image.open(osp.join(args.src, images, name))
        width, height = image.size
        new_width = max(1, round(width * args.factor))
        image.resize((new_width, height), Image.BICUBIC).save(
            osp.join(args.dst, images, name), quality=args.quality)
        Image.open(label_path).resize((new_width, height), Image.NEAREST).save(
            osp.join(args.dst, labels, stem + '.png'))
        aspects.append(new_width / height)
    print(f'{args.dst}: {len(aspects)} images, width / height '
          f'{min(aspects):.3f}-{max(aspects):.3f}')


if __name__ == '__main__':
    main()
