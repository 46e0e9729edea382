"""The one JSON reader of sapsam's annotation and part files: every failure
names the file (and the position in it)."""
import json
import os.path as osp
from typing import Any, Optional, Type


def load_json(path: str,
              what: str = 'JSON',
              error: Type[Exception] = ValueError,
              expected_type: Optional[type] = None) -> Any:
    """Read the JSON file ``path``.

    Args:
        path (str): A local file.
        what (str): What the file holds, for the messages ("annotation").
        error (type): Exception raised for a file that is not UTF-8 JSON of
            ``expected_type``. Defaults to ``ValueError``.
        expected_type (type, optional): Required type of the top-level value.

    Raises:
        FileNotFoundError: ``'<what> file not found: <path>'``.
        error: Malformed JSON (with line and column), text that is not UTF-8
            or a top-level value of another type.
    """
    if not osp.isfile(path):
        raise FileNotFoundError(f'{what} file not found: {path}')
    with open(path, encoding='utf-8') as f:
        try:
            data = json.load(f)
        except json.JSONDecodeError as e:
            raise error(
                f'{path}: malformed JSON at line {e.lineno} column {e.colno}: '
                f'{e.msg} (not valid JSON: restore or regenerate the file)'
            ) from e
        except UnicodeDecodeError as e:
            raise error(
                f'{path}: not UTF-8 text (byte {e.start}: {e.reason}); '
                'restore the file from the original download') from e
    if expected_type is not None and not isinstance(data, expected_type):
        raise error(f'{path}: expected a JSON {expected_type.__name__} of '
                    f'{what} records, got {type(data).__name__}')
    return data
