"""The JSON reader names the file and what is wrong with it."""
import pytest

from sapsam.utils.fileio import load_json


class _Bad(ValueError):
    pass


def test_load_json_reads_and_names_every_failure(tmp_path):
    path = tmp_path / 'a.json'
    path.write_text('[1, 2]')
    assert load_json(str(path), expected_type=list) == [1, 2]
    with pytest.raises(_Bad, match='a.json: expected a JSON dict of score'):
        load_json(str(path), 'score', _Bad, dict)
    with pytest.raises(FileNotFoundError, match='score file not found'):
        load_json(str(tmp_path / 'b.json'), 'score', _Bad)
    path.write_text('[1,,]')
    with pytest.raises(_Bad, match=r'a.json: malformed JSON at line 1 '
                       r'column 4: .*not valid JSON'):
        load_json(str(path), error=_Bad)
    path.write_bytes(b'["\xff"]')
    with pytest.raises(_Bad, match='a.json: not UTF-8 text'):
        load_json(str(path), error=_Bad)
