"""Plot loss and metric curves of one or several runs on one figure.

Reads MMEngine's ``vis_data/scalars.json`` (one JSON object per line; a run
folder or a ``work_dirs/<config>`` folder finds its latest one)::

    python tools/analysis/analyze_logs.py work_dirs/demo/baseline \\
        work_dirs/demo/sapsam --keys loss t2i/R1 --legend baseline SAP-SAM \\
        --out curves.png

Training values are plotted against the iteration, validation values
against the epoch. The best and last value of each key are printed (best =
highest for metrics, lowest for ``loss*``).
"""
import argparse
import glob
import json
import os.path as osp
import sys
from typing import Dict, List, Tuple

Curves = Dict[str, List[Tuple[float, float]]]


def find_scalars(path: str) -> str:
    """``path`` itself, or the newest ``*/vis_data/scalars.json`` under it.

    Raises:
        FileNotFoundError: nothing found (names ``path``).
    """
    if osp.isfile(path):
        return path
    found = sorted(glob.glob(osp.join(path, '**', 'vis_data',
                                      'scalars.json'), recursive=True),
                   key=osp.getmtime)
    if not found:
        raise FileNotFoundError(f'no vis_data/scalars.json under {path}')
    return found[-1]


def read_curves(path: str) -> Curves:
    """``{key: [(x, value), ...]}``; x is the iteration for records with
    ``iter`` (training) and the epoch/step otherwise (validation)."""
    curves: Curves = {}
    with open(path, encoding='utf-8') as f:
        for line_no, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as err:
                raise ValueError(f'{path}:{line_no}: not JSON ({err})') \
                    from err
            x = record.get('iter', record.get('step', record.get('epoch')))
            for key, value in record.items():
                if key in ('iter', 'step', 'epoch') or \
                        not isinstance(value, (int, float)):
                    continue
                curves.setdefault(key, []).append((float(x), float(value)))
    return curves


def best_and_last(key: str, points) -> Tuple[float, float]:
    values = [v for _, v in points]
    best = min(values) if 'loss' in key else max(values)
    return best, values[-1]


def plot(runs: List[Tuple[str, Curves]], keys: List[str], out: str) -> None:
    from matplotlib.figure import Figure

    from sapsam.visualization import figure_to_rgb, save_rgb
    fig = Figure(figsize=(5 * len(keys), 3.6), dpi=100)
    for i, key in enumerate(keys):
        ax = fig.add_subplot(1, len(keys), i + 1)
        for name, curves in runs:
            if key in curves:
                xs, ys = zip(*curves[key])
                ax.plot(xs, ys, label=name, marker='.' if len(xs) < 40
                        else None)
        ax.set_title(key)
        ax.set_xlabel('iteration' if not key.startswith(
            ('t2i/', 'i2t/', 'seg/', 'per_sample/')) else 'epoch')
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    save_rgb(figure_to_rgb(fig), out)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('runs', nargs='+',
                        help='scalars.json files or work dirs')
    parser.add_argument('--keys', nargs='+', default=['loss'],
                        help='scalars to plot (default: loss)')
    parser.add_argument('--legend', nargs='+', help='a name per run')
    parser.add_argument('--out', default='curves.png')
    return parser.parse_args(argv)


def main(argv=None):
    sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(
        osp.abspath(__file__)))))
    args = parse_args(argv)
    if args.legend and len(args.legend) != len(args.runs):
        raise SystemExit(f'error: {len(args.legend)} legend names for '
                         f'{len(args.runs)} runs')
    runs = []
    try:
        for i, run in enumerate(args.runs):
            path = find_scalars(run)
            name = args.legend[i] if args.legend else osp.basename(
                osp.normpath(run))
            runs.append((name, read_curves(path)))
    except (FileNotFoundError, ValueError) as err:
        raise SystemExit(f'error: {err}')
    for key in args.keys:
        if not any(key in curves for _, curves in runs):
            known = sorted(set().union(*(c for _, c in runs)))
            raise SystemExit(f'error: no run logged {key!r}; logged keys: '
                             f'{", ".join(known)}')
    for name, curves in runs:
        for key in args.keys:
            if key in curves:
                best, last = best_and_last(key, curves[key])
                print(f'{name}: {key} best {best:.4f}, last {last:.4f} '
                      f'({len(curves[key])} points)')
    plot(runs, args.keys, args.out)
    print(f'wrote {args.out}')
    return runs


if __name__ == '__main__':
    main()
