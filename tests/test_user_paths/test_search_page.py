"""The local search page in a real headless browser (Debian's chromium,
driven by Playwright): pick an index, type a sentence, get the ranking the
API gives, open one image large. The screenshots are kept in
``$SAPSAM_TEST_ARTIFACTS`` when it is set (``.ci/run`` sets it)."""
import json
import os
import os.path as osp
import shutil
import threading
import urllib.error
import urllib.request

import pytest
import torch

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CONFIG = osp.join(REPO, 'configs/baseline/clip_sdm_synthetic.py')
CHROMIUM = shutil.which('chromium') or '/usr/bin/chromium'
CHROMIUM_FLAGS = ['--no-sandbox', '--disable-gpu', '--disable-quic',
                  '--no-first-run', '--disable-background-networking',
                  '--disable-component-update', '--disable-sync']


@pytest.fixture(scope='module')
def page_server(tmp_path_factory):
    """A served app over a 12-image synthetic gallery and an index that
    another model built."""
    from sapsam.apis import build_gallery_index, init_retriever
    from sapsam.apis.search_page import SearchPageApp, serve
    from sapsam.datasets.synthetic import generate_synthetic_benchmark
    data = str(tmp_path_factory.mktemp('synthetic'))
    generate_synthetic_benchmark(data, seed=1, scale=0.05,
                                 datasets=('CUHK-PEDES', ), progress=False)
    gallery = str(tmp_path_factory.mktemp('gallery'))
    images = sorted(osp.join(root, name) for root, _, names in os.walk(
        osp.join(data, 'CUHK-PEDES', 'imgs')) for name in names)
    for i, path in enumerate(images[:12]):
        shutil.copy(path, osp.join(gallery, f'{i:02d}_{osp.basename(path)}'))
    torch.manual_seed(0)
    model = init_retriever(CONFIG)
    own = str(tmp_path_factory.mktemp('idx') / 'my_photos')
    build_gallery_index(model, gallery, progress=False).save(own)
    torch.manual_seed(1)
    other = str(tmp_path_factory.mktemp('idx') / 'other_model')
    build_gallery_index(init_retriever(CONFIG), gallery,
                        progress=False).save(other)
    app = SearchPageApp(model, [own, other])
    server = serve(app, '127.0.0.1', 0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield dict(app=app, model=model, own=own, gallery=gallery,
               url='http://127.0.0.1:%d' % server.server_address[1])
    server.shutdown()
    server.server_close()


def _get(url):
    try:
        with urllib.request.urlopen(url, timeout=30) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as err:
        return err.code, err.read()


def _keep(path):
    out = os.environ.get('SAPSAM_TEST_ARTIFACTS')
    if out:
        os.makedirs(out, exist_ok=True)
        shutil.copy(path, out)


def test_page_ranks_like_the_api_in_a_browser(page_server, tmp_path):
    if not osp.isfile(CHROMIUM) and not os.environ.get(
            'SAPSAM_REQUIRE_BROWSER'):
        pytest.skip('chromium is not installed (apt-get install chromium; '
                    '.ci/run installs it and sets SAPSAM_REQUIRE_BROWSER)')
    from playwright.sync_api import sync_playwright

    from sapsam.apis import load_gallery_index, search_gallery
    query = 'a woman in a red coat with black trousers'
    want = search_gallery(page_server['model'], load_gallery_index(
        page_server['model'], page_server['own']), query, topk=8)[0]
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM,
                                     args=CHROMIUM_FLAGS)
        page = browser.new_page(viewport=dict(width=1200, height=900))
        page.goto(page_server['url'])
        page.wait_for_selector('#index option', state='attached')
        options = page.locator('#index option')
        assert options.count() == 2
        assert 'unusable' in options.nth(1).inner_text()  # other model
        assert options.nth(1).is_disabled()
        page.fill('#query', query)
        page.fill('#topk', '8')
        page.click('#go')
        page.wait_for_function(
            "document.querySelectorAll('.hit').length == 8 && "
            "[...document.images].filter(i => i.closest('.hit'))"
            ".every(i => i.complete && i.naturalWidth > 0)")
        cards = page.locator('.hit')
        got = [dict(path=cards.nth(i).get_attribute('data-path'),
                    score=float(cards.nth(i).get_attribute('data-score')))
               for i in range(cards.count())]
        assert [g['path'] for g in got] == [w['path'] for w in want]
        assert [g['score'] for g in got] == pytest.approx(
            [w['score'] for w in want], abs=1e-6)
        assert '#1' in cards.nth(0).inner_text()
        results_png = str(tmp_path / 'search_page_results.png')
        page.screenshot(path=results_png, full_page=True)
        cards.nth(0).click()
        page.wait_for_function(
            "document.getElementById('viewer').classList.contains('open') "
            "&& document.getElementById('large').naturalWidth > 0")
        assert want[0]['path'] in page.inner_text('#caption')
        viewer_png = str(tmp_path / 'search_page_viewer.png')
        page.screenshot(path=viewer_png)
        page.keyboard.press('Escape')
        assert not page.is_visible('#large')
        browser.close()
    for png in (results_png, viewer_png):
        assert osp.getsize(png) > 10_000
        _keep(png)


def test_page_serves_gallery_images_only(page_server, tmp_path):
    url, app = page_server['url'], page_server['app']
    status, body = _get(url + '/image/0/0')
    assert status == 200 and body[:4] in (b'\x89PNG', b'\xff\xd8\xff\xe0')
    for path in ('/image/0/..%2F..%2F..%2Fetc%2Fpasswd',
                 '/image/0/../../etc/passwd', '/image/0/99',
                 '/image/1/0', '/image/7/0', '/etc/passwd',
                 '/image/0/-1'):
        status, _ = _get(url + path)
        assert status == 404, path
    # A tampered index entry pointing outside its gallery is refused.
    index = app.entries[0]['index']
    saved, saved_source = index.paths[3], dict(index.source)
    outside = str(tmp_path / 'elsewhere.png')
    shutil.copy(saved, outside)
    try:
        index.paths[3] = outside
        status, body = _get(url + '/image/0/3')
        assert status == 403 and b'outside the gallery' in body
        # Even an index claiming the whole disk serves images only.
        index.source['root'] = '/'
        index.paths[3] = '/etc/hostname'
        status, body = _get(url + '/image/0/3')
        assert status == 403 and b'not an image file' in body
    finally:
        index.paths[3] = saved
        index.source = saved_source
    status, body = _get(url + '/api/search?index=0&q=%20%20')
    assert status == 400 and b'type a sentence' in body
    status, body = _get(url + '/api/indices')
    listed = json.loads(body)
    assert listed[0]['images'] == 12 and listed[0]['error'] is None
    assert 'another model' in listed[1]['error']


def test_page_command_without_an_index_says_so(tmp_path, capsys,
                                               load_tool):
    tool = load_tool('tools/search_page.py')
    with pytest.raises(SystemExit) as exit_info:
        tool.main([CONFIG, str(tmp_path / 'x.pth'), '--index',
                   str(tmp_path / 'nothing')])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith('error: no gallery index found') and \
        len(err.splitlines()) == 1
