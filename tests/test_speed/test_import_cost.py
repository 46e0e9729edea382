"""``import sapsam`` stays light: no heavy optional package is loaded until a
part that needs it is imported (the cost itself is measured in
``docs/benchmarks.md``; here the modules are asserted, not times)."""
import json
import subprocess
import sys

HEAVY = ('mmengine.runner', 'transformers', 'segment_anything', 'open_clip',
         'mmseg', 'mmpretrain', 'cv2', 'matplotlib', 'sapsam.parts')
# In one fresh interpreter, lightest first: each must add no heavy module.
STATEMENTS = (
    'import sapsam',
    'import sapsam.utils.typing_utils',
    'from sapsam.evaluation import TBPRMetric, query_rank_stats',
    'from sapsam.utils import register_all_modules',
)


def test_light_imports_load_no_heavy_package():
    code = ['import json, sys', 'loaded = {}']
    for statement in STATEMENTS:
        code += [statement, f'loaded[{statement!r}] = [m for m in {HEAVY!r} '
                 'if m in sys.modules]']
    code.append('print(json.dumps(loaded))')
    done = subprocess.run([sys.executable, '-c', '\n'.join(code)],
                          capture_output=True, text=True, check=True)
    loaded = json.loads(done.stdout.strip().splitlines()[-1])
    assert loaded == {statement: [] for statement in STATEMENTS}
