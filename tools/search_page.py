"""A local web page to search gallery indices by text.

Build an index once with ``tools/search.py`` (``--gallery FOLDER``, saved
under ``work_dirs/search/`` or ``--index DIR``), then::

    python tools/search_page.py CONFIG CKPT --index work_dirs/search/*
    # open http://127.0.0.1:8765 , pick the gallery, type a sentence

The page works offline and serves only the images of the given indices.
It listens on 127.0.0.1 unless ``--host`` says otherwise.
"""
import argparse
import glob
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

from sapsam.apis import (GalleryIndex,  # noqa: E402
                         TextToImageRetrievalInferencer)
from sapsam.apis.search_page import SearchPageApp, serve  # noqa: E402


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('config', help='config of the retriever')
    parser.add_argument('checkpoint', help='trained checkpoint')
    parser.add_argument('--index', nargs='+',
                        default=sorted(glob.glob('work_dirs/search/*')),
                        help='gallery index folders (default: every index '
                        'under work_dirs/search/)')
    parser.add_argument('--host', default='127.0.0.1')
    parser.add_argument('--port', type=int, default=8765)
    parser.add_argument('--device', default=None,
                        help='default: cuda if available, else cpu')
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    indices = [p for p in args.index if GalleryIndex.is_index(p)]
    try:
        if not indices:
            raise FileNotFoundError(
                'no gallery index found (give --index DIR; build one with '
                'tools/search.py CONFIG CKPT --gallery FOLDER --query ...)')
        for path, what in ((args.config, 'config'),
                           (args.checkpoint, 'checkpoint')):
            if not osp.isfile(path):
                raise FileNotFoundError(f'{what} not found: {path}')
        retriever = TextToImageRetrievalInferencer(
            args.config, args.checkpoint, device=args.device)
        app = SearchPageApp(retriever, indices)
        server = serve(app, args.host, args.port)
    except (FileNotFoundError, ValueError, OSError) as err:
        print(f'error: {err}', file=sys.stderr)
        raise SystemExit(2)
    for item in app.indices():
        state = item['error'] or f'{item["images"]} images'
        print(f'  [{item["id"]}] {item["path"]}: {state}')
    host, port = server.server_address[:2]
    print(f'search page on http://{host}:{port}  (Ctrl+C to stop)',
          flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


if __name__ == '__main__':
    main()
