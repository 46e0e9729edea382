"""Print the full config a tool would run, after inheritance and overrides.

    python tools/misc/print_config.py configs/sapsam/elca_cuhk.py \\
        --cfg-options train_cfg.max_epochs=10
    python tools/misc/print_config.py CONFIG --out merged.py   # also save it
"""
import argparse
import os.path as osp
import sys

from mmengine.config import Config, DictAction


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('config', help='config file')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override settings, e.g. key=value')
    parser.add_argument('--out', help='also write the merged config here')
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    if not osp.isfile(args.config):
        raise SystemExit(f'error: config not found: {args.config}')
    try:
        cfg = Config.fromfile(args.config)
    except Exception as err:  # syntax errors etc.: one line, the file named
        raise SystemExit(f'error: {args.config}: {type(err).__name__}: {err}')
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    text = cfg.pretty_text
    print(f'Config: {args.config}\n{text}')
    if args.out:
        cfg.dump(args.out)
        print(f'wrote {args.out}', file=sys.stderr)
    return cfg


if __name__ == '__main__':
    main()
