"""A local search page: type a sentence, see the gallery ranked.

Standard library only (``http.server``), offline (no external scripts,
fonts or styles). One retriever is loaded once; the page lists the gallery
indices given (``tools/search.py`` writes them), and for a query returns
what :meth:`TextToImageRetrievalInferencer.search` returns. Images are served by row number of an
index, never by a path from the request, and only image files inside the
index's own gallery folder (or dataset root)::

    GET /                                  the page
    GET /api/indices                       [{id, name, images, root, error}]
    GET /api/search?index=I&q=TEXT&topk=K  {query, index, hits: [...]}
    GET /image/I/ROW                       the image of row ROW of index I
"""
import json
import mimetypes
import os.path as osp
import threading
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Dict, List, Optional, Sequence
from urllib.parse import parse_qs, unquote, urlparse

from .gallery_index import IMAGE_EXTENSIONS, GalleryIndex

#: Most results one query may ask for.
MAX_TOPK = 200


class SearchPageApp:
    """The retriever, its gallery indices and the page's answers.

    Args:
        retriever (TextToImageRetrievalInferencer): The model (also what
            :func:`init_retriever` returns).
        index_dirs (list[str]): Saved index folders. One that another model
            built (or that is corrupted) is listed with its error and cannot
            be searched.
    """

    def __init__(self, retriever, index_dirs: Sequence[str]) -> None:
        if not index_dirs:
            raise ValueError('give at least one gallery index folder (built '
                             'by tools/search.py --gallery FOLDER)')
        self.retriever = retriever
        self.entries: List[Dict] = []
        self._lock = threading.Lock()  # one forward pass at a time
        for i, path in enumerate(index_dirs):
            entry = dict(id=i, name=osp.basename(osp.normpath(path)),
                         path=osp.abspath(path), index=None, error=None)
            try:
                entry['index'] = retriever.load_index(path)
            except Exception as err:  # shown on the page, not fatal
                entry['error'] = f'{type(err).__name__}: {err}'
            self.entries.append(entry)

    # ---------------------------------------------------------------- api
    def indices(self) -> List[Dict]:
        out = []
        for entry in self.entries:
            index: Optional[GalleryIndex] = entry['index']
            out.append(dict(
                id=entry['id'], name=entry['name'], path=entry['path'],
                images=None if index is None else len(index),
                root=None if index is None else _gallery_root(index),
                error=entry['error']))
        return out

    def _entry(self, index_id) -> Dict:
        try:
            entry = self.entries[int(index_id)]
        except (ValueError, TypeError, IndexError):
            raise KeyError(f'no gallery index {index_id!r}')
        if entry['index'] is None:
            raise KeyError(f'gallery index {entry["name"]} cannot be '
                           f'searched: {entry["error"]}')
        return entry

    def search(self, index_id, query: str, topk: int = 20) -> Dict:
        """The ranking of the retriever's ``search``, with image URLs."""
        entry = self._entry(index_id)
        if not query or not query.strip():
            raise ValueError('type a sentence describing the person')
        topk = max(1, min(int(topk), MAX_TOPK))
        with self._lock:
            hits = self.retriever.search([query.strip()], topk=topk,
                                         index=entry['index'],
                                         check=False)[0]
        for hit in hits:
            hit['url'] = f'/image/{entry["id"]}/{hit["index"]}'
            hit['name'] = osp.basename(hit['path'])
        return dict(query=query.strip(), index=entry['name'], hits=hits)

    def image_file(self, index_id, row) -> str:
        """Path of a row's image, only inside the index's gallery root.

        Raises:
            KeyError: no such index or row.
            PermissionError: the file lies outside the gallery root.
        """
        index: GalleryIndex = self._entry(index_id)['index']
        try:
            row = int(row)
        except ValueError:
            raise KeyError(f'bad row {row!r}')
        if not 0 <= row < len(index) or not bool(index.searchable[row]):
            raise KeyError(f'no image {row}')
        path = osp.realpath(index.paths[row])
        if not path.lower().endswith(IMAGE_EXTENSIONS):
            raise PermissionError(f'{path} is not an image file')
        root = _gallery_root(index)
        if root is None or osp.commonpath([path, osp.realpath(root)]) != \
                osp.realpath(root):
            raise PermissionError(f'{path} is outside the gallery {root}')
        if not osp.isfile(path):
            raise KeyError(f'{path} no longer exists')
        return path


def _gallery_root(index: GalleryIndex) -> Optional[str]:
    """The folder an index's images must lie in."""
    source = index.source
    root = source.get('root') or source.get('data_root')
    if root is None and index.paths:
        root = osp.commonpath([osp.abspath(p) for p in index.paths])
        root = root if osp.isdir(root) else osp.dirname(root)
    return None if root is None else osp.abspath(root)


def make_handler(app: SearchPageApp):
    """A ``BaseHTTPRequestHandler`` class serving ``app``."""

    class Handler(BaseHTTPRequestHandler):
        server_version = 'sapsam-search'

        def log_message(self, fmt, *args):  # quiet: one line per error only
            if args and str(args[1]).startswith(('4', '5')):
                super().log_message(fmt, *args)

        def _send(self, status, body: bytes, content_type: str) -> None:
            self.send_response(status)
            self.send_header('Content-Type', content_type)
            self.send_header('Content-Length', str(len(body)))
            self.send_header('Cache-Control', 'no-store')
            self.send_header('X-Content-Type-Options', 'nosniff')
            self.end_headers()
            self.wfile.write(body)

        def _json(self, status, payload) -> None:
            self._send(status, json.dumps(payload).encode(),
                       'application/json; charset=utf-8')

        def do_GET(self):  # noqa: N802 (http.server's name)
            url = urlparse(self.path)
            params = {k: v[-1] for k, v in parse_qs(url.query).items()}
            parts = [unquote(p) for p in url.path.split('/') if p]
            try:
                if not parts:
                    self._send(HTTPStatus.OK, PAGE.encode(),
                               'text/html; charset=utf-8')
                elif parts == ['favicon.ico']:
                    self._send(HTTPStatus.NO_CONTENT, b'', 'image/x-icon')
                elif parts == ['api', 'indices']:
                    self._json(HTTPStatus.OK, app.indices())
                elif parts == ['api', 'search']:
                    self._json(HTTPStatus.OK, app.search(
                        params.get('index', 0), params.get('q', ''),
                        params.get('topk', 20)))
                elif len(parts) == 3 and parts[0] == 'image':
                    path = app.image_file(parts[1], parts[2])
                    with open(path, 'rb') as f:
                        data = f.read()
                    self._send(HTTPStatus.OK, data,
                               mimetypes.guess_type(path)[0] or
                               'application/octet-stream')
                else:
                    self._json(HTTPStatus.NOT_FOUND,
                               dict(error=f'not found: {url.path}'))
            except PermissionError as err:
                self._json(HTTPStatus.FORBIDDEN, dict(error=str(err)))
            except KeyError as err:
                self._json(HTTPStatus.NOT_FOUND,
                           dict(error=err.args[0] if err.args else str(err)))
            except ValueError as err:
                self._json(HTTPStatus.BAD_REQUEST, dict(error=str(err)))

    return Handler


def serve(app: SearchPageApp, host: str = '127.0.0.1',
          port: int = 8765) -> ThreadingHTTPServer:
    """A started-not-yet-serving server (call ``serve_forever``)."""
    server = ThreadingHTTPServer((host, port), make_handler(app))
    server.daemon_threads = True
    return server


PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>sapsam search</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
 body{font-family:system-ui,sans-serif;margin:0;background:#f4f4f6;color:#222}
 header{background:#263238;color:#fff;padding:12px 20px}
 header h1{font-size:18px;margin:0}
 form{display:flex;gap:8px;padding:14px 20px;flex-wrap:wrap;background:#fff;
      border-bottom:1px solid #ddd}
 #query{flex:1;min-width:280px;font-size:16px;padding:8px}
 select,input,button{font-size:15px;padding:7px}
 select{max-width:340px;text-overflow:ellipsis}
 button{background:#1565c0;color:#fff;border:0;border-radius:4px;
        cursor:pointer}
 #status{padding:8px 20px;color:#555;font-size:14px}
 #results{display:grid;grid-template-columns:repeat(auto-fill,132px);
          gap:12px;padding:0 20px 20px}
 .hit{background:#fff;border:1px solid #ccc;border-radius:6px;padding:6px;
      cursor:zoom-in;text-align:center;font-size:12px}
 .hit img{width:120px;height:240px;object-fit:contain;background:#eee}
 .rank{font-weight:bold}
 .name{overflow:hidden;text-overflow:ellipsis;white-space:nowrap}
 #viewer{position:fixed;inset:0;background:rgba(0,0,0,.85);display:none;
         align-items:center;justify-content:center;flex-direction:column;
         color:#fff;cursor:zoom-out}
 #viewer.open{display:flex}
 #viewer img{max-height:85vh;max-width:90vw;image-rendering:auto;
             min-height:60vh;object-fit:contain}
 .error{color:#b71c1c}
</style></head>
<body>
<header><h1>sapsam &mdash; search a gallery by text</h1></header>
<form id="form">
 <select id="index" title="gallery index (built by tools/search.py)"></select>
 <input id="query" placeholder="a woman with long black hair, a red coat
 and white sneakers" autocomplete="off">
 <label>top <input id="topk" type="number" min="1" max="200" value="20"
 style="width:60px"></label>
 <button id="go" type="submit">Search</button>
</form>
<div id="status">Score = cosine similarity of the sentence and the image
 features (higher is closer; compare scores within one query only).</div>
<div id="results"></div>
<div id="viewer" title="click or press Esc to close"><img id="large" alt="">
 <p id="caption"></p></div>
<script>
const $ = (id) => document.getElementById(id);
function esc(s){const d=document.createElement('div');d.textContent=s;
  return d.innerHTML;}
async function loadIndices(){
  const list = await (await fetch('/api/indices')).json();
  for (const it of list){
    const o = document.createElement('option');
    o.value = it.id; o.disabled = !!it.error;
    o.textContent = it.error ? `${it.name} (unusable: ${it.error})`
                             : `${it.name} (${it.images} images)`;
    $('index').appendChild(o);
  }
  const ok = list.find((it) => !it.error);
  if (ok) $('index').value = ok.id;
}
async function search(ev){
  ev.preventDefault();
  const q = $('query').value.trim();
  if (!q){ $('status').textContent = 'Type a sentence first.'; return; }
  $('status').textContent = 'Searching...';
  const params = new URLSearchParams({index:$('index').value, q:q,
                                      topk:$('topk').value});
  const res = await fetch('/api/search?' + params);
  const data = await res.json();
  if (!res.ok){ $('status').innerHTML =
      `<span class="error">${esc(data.error)}</span>`; return; }
  $('status').textContent = `${data.hits.length} best matches in `
      + `${data.index} for "${data.query}" (score = cosine similarity)`;
  const box = $('results'); box.innerHTML = '';
  for (const h of data.hits){
    const card = document.createElement('div');
    card.className = 'hit'; card.dataset.path = h.path;
    card.dataset.index = h.index; card.dataset.score = h.score;
    card.innerHTML = `<img src="${h.url}" alt="${esc(h.name)}" loading="lazy">`
      + `<div><span class="rank">#${h.rank}</span> score `
      + `${h.score.toFixed(3)}</div><div class="name" title="${esc(h.path)}">`
      + `${esc(h.name)}</div>`;
    card.addEventListener('click', () => {
      $('large').src = h.url;
      $('caption').textContent = `#${h.rank}  score ${h.score.toFixed(4)}  `
        + h.path + (h.pid === null ? '' : `  id ${h.pid}`);
      $('viewer').classList.add('open');
    });
    box.appendChild(card);
  }
}
$('viewer').addEventListener('click', () => $('viewer').classList.remove('open'));
document.addEventListener('keydown', (e) => {
  if (e.key === 'Escape') $('viewer').classList.remove('open'); });
$('form').addEventListener('submit', search);
loadIndices();
</script></body></html>
"""

__all__ = ['SearchPageApp', 'make_handler', 'serve', 'PAGE']
