"""Pictures of text-to-image retrieval results."""
import textwrap
from typing import Dict, List, Optional, Sequence

import numpy as np
from matplotlib.figure import Figure
from mmengine.visualization import Visualizer

from sapsam.registry import VISUALIZERS
from .figure_utils import figure_to_rgb, read_rgb, save_rgb

#: Frame colours: a match, a non-match, unknown (unlabelled gallery).
MATCH_COLOR = '#1a9641'
MISS_COLOR = '#d7191c'
UNKNOWN_COLOR = '#9e9e9e'


@VISUALIZERS.register_module()
class RetrievalVisualizer(Visualizer):
    """Draw the ranked gallery images of text queries as a grid.

    One row per query: the (wrapped) sentence on top, then the top-k
    images left to right, each titled with its rank and cosine score. With a
    labelled gallery the frame is green for the query's identity (a match,
    also marked with a tick) and red otherwise; the query's ground-truth
    person id is shown in the row title. A query's ``truth`` (its best
    ranked true match) is drawn in an extra tile at the right, titled with
    its rank, so a failure shows what should have come first.

    Args:
        name (str): Instance name.
        tile_inches (tuple): ``(width, height)`` of one image tile.
        dpi (int): Resolution of the picture.
        **kwargs: Passed to :class:`mmengine.visualization.Visualizer`
            (``vis_backends``, ``save_dir``).

    Examples:
        >>> vis = RetrievalVisualizer()
        >>> vis.add_retrieval('demo', [dict(
        ...     text='a man in a red coat', query_pid=3,
        ...     hits=[dict(path='a.jpg', score=0.8, pid=3)])],
        ...     out_file='demo.png')
    """

    def __init__(self,
                 name: str = 'retrieval_visualizer',
                 tile_inches: Sequence[float] = (1.1, 2.6),
                 dpi: int = 100,
                 **kwargs) -> None:
        super().__init__(name=name, **kwargs)
        self.tile_inches = tuple(tile_inches)
        self.dpi = dpi

    def draw_retrieval(self, queries: List[Dict]) -> np.ndarray:
        """Draw the rows of ``queries``.

        Args:
            queries (list[dict]): Per query: ``text`` (str), ``hits`` (list
                of dicts with ``path``, ``score`` and optionally ``pid`` and
                ``match`` (bool)), optionally ``query_pid`` (marks
                ``hits`` whose ``pid`` equals it as matches), ``title``
                (replaces the default row title prefix) and ``truth`` (a
                hit dict of the first true match, with its ``rank``).

        Returns:
            np.ndarray: ``(H, W, 3)`` uint8 RGB picture.
        """
        if not queries:
            raise ValueError('draw_retrieval needs at least one query')
        with_truth = any(q.get('truth') for q in queries)
        cols = max(1, max(len(q['hits']) for q in queries)) + with_truth
        tile_w, tile_h = self.tile_inches
        header = 0.75
        fig = Figure(figsize=(max(cols * tile_w, 4.0),
                              len(queries) * (tile_h + header)),
                     dpi=self.dpi)
        rows = fig.subfigures(len(queries), 1, squeeze=False)[:, 0]
        wrap = max(30, int(cols * tile_w * 12))
        for subfig, query in zip(rows, queries):
            self._draw_row(subfig, query, cols, wrap)
        image = figure_to_rgb(fig)
        self.set_image(image)
        return image

    def _draw_row(self, subfig, query: Dict, cols: int, wrap: int) -> None:
        query_pid = query.get('query_pid')
        prefix = query.get('title')
        if prefix is None:
            prefix = '' if query_pid is None else f'[id {query_pid}] '
        text = textwrap.shorten(str(query['text']), width=3 * wrap,
                                placeholder=' ...')
        subfig.suptitle(textwrap.fill(prefix + text, width=wrap),
                        fontsize=8, ha='left', x=0.01, y=0.99, va='top')
        axes = subfig.subplots(1, cols, squeeze=False)[0]
        subfig.subplots_adjust(left=0.01, right=0.99, bottom=0.06,
                               top=0.78, wspace=0.08)
        truth = query.get('truth')
        for col, ax in enumerate(axes):
            ax.set_xticks([])
            ax.set_yticks([])
            if truth and col == cols - 1:
                self._draw_tile(ax, dict(truth, match=True),
                                f'true match #{truth["rank"]}', query_pid)
                continue
            if col >= len(query['hits']):
                ax.set_axis_off()
                continue
            self._draw_tile(ax, query['hits'][col],
                            f'#{query["hits"][col].get("rank", col + 1)}',
                            query_pid)

    @staticmethod
    def _draw_tile(ax, hit: Dict, label: str, query_pid) -> None:
        """One image framed by whether it matches the query."""
        match = hit.get('match')
        if match is None and query_pid is not None and \
                hit.get('pid') is not None:
            match = int(hit['pid']) == int(query_pid)
        color = UNKNOWN_COLOR if match is None else (
            MATCH_COLOR if match else MISS_COLOR)
        image = read_rgb(hit['path'])
        if image is None:
            ax.text(0.5, 0.5, 'unreadable', ha='center', va='center',
                    fontsize=7, transform=ax.transAxes)
        else:
            ax.imshow(image, aspect='auto')
        for spine in ax.spines.values():
            spine.set_edgecolor(color)
            spine.set_linewidth(4 if match is not None else 1.5)
        mark = '' if match is None else (' \u2713' if match else
                                         ' \u2717')
        ax.set_title(f'{label}{mark} {hit["score"]:.3f}', fontsize=7,
                     color=color, pad=2)
        if hit.get('pid') is not None:
            ax.set_xlabel(f'id {hit["pid"]}', fontsize=6, labelpad=1)

    def add_retrieval(self,
                      name: str,
                      queries: List[Dict],
                      out_file: Optional[str] = None,
                      step: int = 0) -> np.ndarray:
        """Draw ``queries``; write ``out_file`` if given, else send the
        picture to the visualisation backends.

        Returns:
            np.ndarray: The RGB picture.
        """
        image = self.draw_retrieval(queries)
        if out_file is not None:
            save_rgb(image, out_file)
        else:
            self.add_image(name, image, step)
        return image
