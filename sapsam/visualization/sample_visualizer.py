"""Pictures of SAP-SAM training samples after the pipeline: what the model
is taught (part masks, patch labels, phrase spans, masked tokens)."""
import textwrap
from typing import Optional, Sequence

import numpy as np
from matplotlib.figure import Figure
from matplotlib.patches import Patch
from mmengine.visualization import Visualizer

from sapsam.registry import VISUALIZERS
from .figure_utils import figure_to_rgb, save_rgb

#: Part k (1-based) is drawn in PART_COLORS[k - 1]; 0 is background.
PART_COLORS = ((230, 25, 75), (60, 180, 75), (0, 130, 200), (245, 130, 48),
               (145, 30, 180), (70, 240, 240), (240, 50, 230),
               (210, 245, 60))


def part_color(label: int) -> tuple:
    """RGB in [0, 1] of part ``label`` (1-based)."""
    r, g, b = PART_COLORS[(label - 1) % len(PART_COLORS)]
    return r / 255, g / 255, b / 255


@VISUALIZERS.register_module()
class TrainingSampleVisualizer(Visualizer):
    """One picture per training sample, four panels:

    1. the augmented image the model sees;
    2. the merged part label map (each part's outline and a light fill, in
       the colour of its phrase);
    3. the per-patch part labels on the ViT grid (number = part, blank =
       background), i.e. which patches ELCA groups into each region;
    4. the caption, each phrase span in its part's colour, masked-language
       targets shown as ``[word]``.

    Args:
        name (str): Instance name.
        dpi (int): Resolution of the picture.
        **kwargs: Passed to :class:`mmengine.visualization.Visualizer`.
    """

    def __init__(self, name: str = 'training_sample_visualizer',
                 dpi: int = 100, **kwargs) -> None:
        super().__init__(name=name, **kwargs)
        self.dpi = dpi

    def draw_sample(self,
                    image: np.ndarray,
                    label_map: Optional[np.ndarray],
                    patch_labels: Optional[np.ndarray],
                    tokens: Sequence[str],
                    spans: Sequence[Sequence[int]],
                    phrases: Sequence[str],
                    masked: Sequence[bool],
                    title: str = '',
                    out_file: Optional[str] = None) -> np.ndarray:
        """Render one sample.

        Args:
            image (np.ndarray): ``(H, W, 3)`` uint8 RGB.
            label_map (np.ndarray, optional): ``(H, W)`` int, 0 background,
                k = part k (phrase k - 1).
            patch_labels (np.ndarray, optional): ``(Hp, Wp)`` int.
            tokens (list[str]): Caption words (one per token, without
                SOT/EOT), index t = text position t + 1.
            spans (list): ``(start, end)`` inclusive token positions per
                phrase, ``(-1, -1)`` when not found in the caption.
            phrases (list[str]): The part phrases.
            masked (list[bool]): Per token, whether it is an MLM target.
            title (str): Figure title.
            out_file (str, optional): Where to write the PNG.

        Returns:
            np.ndarray: The picture, ``(H', W', 3)`` uint8.
        """
        fig = Figure(figsize=(10.5, 5.2), dpi=self.dpi)
        grid = fig.add_gridspec(1, 4, width_ratios=(1, 1, 1, 3.2))
        height, width = image.shape[:2]
        axes = [fig.add_subplot(grid[0, i]) for i in range(4)]
        axes[0].imshow(image)
        axes[0].set_title('image (augmented)', fontsize=9)
        axes[1].imshow(image)
        labels = [] if label_map is None else \
            sorted(int(v) for v in np.unique(label_map) if v > 0)
        for label in labels:
            mask = (label_map == label).astype(float)
            fill = np.zeros((height, width, 4))
            fill[..., :3] = part_color(label)
            fill[..., 3] = 0.35 * mask
            axes[1].imshow(fill)
            axes[1].contour(mask, levels=[0.5], colors=[part_color(label)],
                            linewidths=1.6)
        axes[1].set_title('part masks' if labels else
                          'part masks: none', fontsize=9)
        axes[2].imshow((image * 0.45 + 140).clip(0, 255).astype(np.uint8))
        if patch_labels is not None:
            rows, cols = patch_labels.shape
            ph, pw = height / rows, width / cols
            for r in range(rows):
                for c in range(cols):
                    value = int(patch_labels[r, c])
                    if value:
                        axes[2].add_patch(_rect(c * pw, r * ph, pw, ph,
                                                part_color(value)))
                        axes[2].text((c + .5) * pw, (r + .5) * ph,
                                     str(value), ha='center', va='center',
                                     fontsize=6, color='white')
            axes[2].set_title(f'patch labels ({rows}x{cols})', fontsize=9)
        for ax in axes[:3]:
            ax.set_xticks([])
            ax.set_yticks([])
        self._draw_caption(axes[3], tokens, spans, phrases, masked)
        handles = [Patch(color=part_color(k + 1), label=f'{k + 1}: {p}')
                   for k, p in enumerate(phrases)]
        if handles:
            fig.legend(handles=handles, loc='lower center',
                       ncol=min(3, len(handles)), fontsize=8,
                       frameon=False)
        fig.suptitle(title, fontsize=10)
        fig.subplots_adjust(left=0.01, right=0.99, top=0.88, bottom=0.16,
                            wspace=0.05)
        picture = figure_to_rgb(fig)
        self.set_image(picture)
        if out_file:
            save_rgb(picture, out_file)
        return picture

    @staticmethod
    def _draw_caption(ax, tokens, spans, phrases, masked) -> None:
        ax.axis('off')
        ax.set_title('caption: phrase spans (colour), MLM targets [..]',
                     fontsize=9)
        owner = {}
        for k, (start, end) in enumerate(spans[:len(phrases)]):
            if start >= 1:
                for t in range(start, end + 1):
                    owner.setdefault(t, k + 1)
        x, y, line_chars = 0.0, 0.95, 44
        for t, word in enumerate(tokens, start=1):
            text = f'[{word}]' if masked[t - 1] else word
            if x + len(text) > line_chars:
                x, y = 0.0, y - 0.07
            color = part_color(owner[t]) if t in owner else (0.1, 0.1, 0.1)
            ax.text(x / line_chars, y, text, color=color, fontsize=9,
                    fontweight='bold' if t in owner else 'normal',
                    family='monospace', transform=ax.transAxes, va='top')
            x += len(text) + 1
        missing = [p for k, p in enumerate(phrases)
                   if k >= len(spans) or spans[k][0] < 1]
        if missing:
            ax.text(0, y - 0.1, textwrap.fill(
                'not found in the caption: ' + '; '.join(missing), 60),
                fontsize=8, color=(0.6, 0.1, 0.1), transform=ax.transAxes,
                va='top')


def _rect(x, y, w, h, color):
    from matplotlib.patches import Rectangle
    return Rectangle((x, y), w, h, facecolor=(*color, 0.55),
                     edgecolor='white', linewidth=0.3)
