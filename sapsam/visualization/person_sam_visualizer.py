"""Pictures of Person-SAM phrase masks."""
import textwrap
from typing import Optional, Sequence

import numpy as np
from matplotlib.figure import Figure
from matplotlib import patheffects
from matplotlib.lines import Line2D
from mmengine.visualization import Visualizer

from sapsam.registry import VISUALIZERS
from .figure_utils import figure_to_rgb, save_rgb

#: Outline colours to choose from, per picture, against the image
#: (RGB 0-255): the prediction takes the one farthest from the image colours
#: around it, the ground truth the farthest of the rest.
OUTLINE_CHOICES = ((255, 230, 0), (0, 230, 255), (255, 0, 220),
                   (60, 255, 60), (255, 255, 255), (20, 20, 20),
                   (255, 120, 0), (40, 80, 255))
#: A thin dark edge under every outline keeps it visible on any colour.
_HALO = [patheffects.withStroke(linewidth=3.2, foreground=(0, 0, 0, 0.7))]
#: The caption that explains the numbers of every picture.
SCORE_NOTE = ('score = Person-SAM\'s own guess of its mask IoU (the IoU head; '
              'stage 4 uses it only to order overlapping masks).  '
              'IoU = overlap of the mask with the ground truth.')


def contrasting_colors(image: np.ndarray, masks: Sequence[np.ndarray],
                       count: int = 2) -> list:
    """``count`` distinct colours of :data:`OUTLINE_CHOICES` that differ
    most from the image pixels in and around ``masks`` (whole image if the
    masks are empty), as RGB 0-255 tuples."""
    region = np.zeros(image.shape[:2], bool)
    for mask in masks:
        if mask is not None:
            region |= np.asarray(mask, bool)
    pixels = image[region] if region.any() else image.reshape(-1, 3)
    pixels = pixels.astype(np.float32)
    if len(pixels) > 4096:
        pixels = pixels[np.linspace(0, len(pixels) - 1, 4096).astype(int)]
    # Distance to the nearest 10 % of pixels: a colour is good if few
    # pixels look like it.
    chosen = []
    for _ in range(count):
        best, best_score = None, -1.0
        for color in OUTLINE_CHOICES:
            if color in chosen:
                continue
            dist = np.linalg.norm(pixels - np.asarray(color, np.float32),
                                  axis=1)
            score = float(np.quantile(dist, 0.1))
            if score > best_score:
                best, best_score = color, score
        chosen.append(best)
    return chosen


def overlay_mask(image: np.ndarray, mask: np.ndarray,
                 color: Sequence[int], alpha: float = 0.55) -> np.ndarray:
    """Blend ``color`` into ``image`` ``(H, W, 3)`` uint8 where ``mask``
    ``(H, W)`` is true."""
    if mask.shape != image.shape[:2]:
        raise ValueError(f'mask shape {mask.shape} differs from the image '
                         f'{image.shape[:2]}')
    out = image.astype(np.float32)
    tint = np.asarray(color, np.float32)
    sel = mask.astype(bool)
    out[sel] = (1 - alpha) * out[sel] + alpha * tint
    return out.round().clip(0, 255).astype(np.uint8)


def mask_iou(pred: np.ndarray, gt: np.ndarray) -> float:
    """IoU of two binary masks (1.0 when both are empty)."""
    pred, gt = pred.astype(bool), gt.astype(bool)
    union = np.logical_or(pred, gt).sum()
    return 1.0 if union == 0 else float(np.logical_and(pred, gt).sum() /
                                        union)


@VISUALIZERS.register_module()
class PersonSAMVisualizer(Visualizer):
    """Draw Person-SAM's mask for each phrase of an image.

    The image once, then one tile per phrase: the image with the predicted
    mask outlined (solid) and, where known, the ground truth outlined
    (dashed), in colours chosen to stand out against the image (a red
    outline on a red coat would vanish). Each tile is titled with the
    phrase, the IoU-head score and the IoU with the ground truth; an empty
    prediction says so. A caption explains the numbers.

    Args:
        name (str): Instance name.
        tile_inches (float): Height of one tile in inches.
        dpi (int): Resolution of the picture.
        max_cols (int): Tiles per row before wrapping.
        **kwargs: Passed to :class:`mmengine.visualization.Visualizer`.
    """

    def __init__(self, name: str = 'person_sam_visualizer',
                 tile_inches: float = 2.6, dpi: int = 100, max_cols: int = 7,
                 **kwargs) -> None:
        super().__init__(name=name, **kwargs)
        self.tile_inches = tile_inches
        self.dpi = dpi
        self.max_cols = max_cols

    def draw_phrase_masks(self,
                          image: np.ndarray,
                          phrases: Sequence[str],
                          pred_masks: np.ndarray,
                          scores: Optional[Sequence[float]] = None,
                          gt_masks: Optional[Sequence[Optional[np.ndarray]]]
                          = None,
                          title: Optional[str] = None) -> np.ndarray:
        """Draw one image with the masks of its phrases.

        Args:
            image (np.ndarray): ``(H, W, 3)`` uint8 RGB.
            phrases (list[str]): ``N`` phrases.
            pred_masks (np.ndarray): ``(N, H, W)`` predicted binary masks.
            scores (list[float], optional): ``N`` predicted IoU scores.
            gt_masks (list, optional): ``N`` ground-truth ``(H, W)`` masks
                or None where unknown.
            title (str, optional): Figure title (e.g. the image name).

        Returns:
            np.ndarray: ``(H', W', 3)`` uint8 RGB picture.
        """
        pred_masks = np.asarray(pred_masks)
        num = len(phrases)
        if num == 0:
            raise ValueError('draw_phrase_masks needs at least one phrase')
        if pred_masks.shape != (num, *image.shape[:2]):
            raise ValueError(f'pred_masks must be ({num}, {image.shape[0]}, '
                             f'{image.shape[1]}), got {pred_masks.shape}')
        gt_masks = list(gt_masks) if gt_masks is not None else [None] * num
        if len(gt_masks) != num:
            raise ValueError(f'{len(gt_masks)} ground-truth masks for {num} '
                             'phrases')
        pred_color, gt_color = (np.asarray(c) / 255 for c in
                                contrasting_colors(image, [*pred_masks,
                                                           *gt_masks]))
        tiles = num + 1
        cols = min(tiles, self.max_cols)
        rows = -(-tiles // cols)
        aspect = image.shape[1] / image.shape[0]
        tile_h = self.tile_inches
        tile_w = max(tile_h * aspect, 1.3)
        width = cols * tile_w + 0.3
        note = textwrap.fill(SCORE_NOTE, max(40, int(width * 15)))
        footer = 0.3 + 0.11 * (note.count('\n') + 1)  # legend + note
        height = rows * (tile_h + 0.8) + footer + (0.3 if title else 0)
        fig = Figure(figsize=(width, height), dpi=self.dpi)
        axes = fig.subplots(rows, cols, squeeze=False).ravel()
        wrap = max(14, int(tile_w * 11))
        axes[0].imshow(image)
        axes[0].set_title('image', fontsize=7, pad=2)
        for i, phrase in enumerate(phrases):
            ax = axes[i + 1]
            pred, gt = pred_masks[i].astype(bool), gt_masks[i]
            ax.imshow(image)
            if gt is not None and np.asarray(gt).any():
                ax.contour(np.asarray(gt, float), levels=[0.5],
                           colors=[gt_color], linewidths=1.6,
                           linestyles='dashed').set(path_effects=_HALO)
            if pred.any():
                ax.contour(pred.astype(float), levels=[0.5],
                           colors=[pred_color],
                           linewidths=2.0).set(path_effects=_HALO)
            else:
                ax.text(0.5, 0.5, 'empty\nprediction\n(no pixel above\n'
                        'the threshold)', ha='center', va='center',
                        fontsize=6,
                        color='white', transform=ax.transAxes,
                        bbox=dict(facecolor='black', alpha=0.6, pad=2))
            ax.set_title(self._pred_title(phrase, scores, i, pred, gt, wrap),
                         fontsize=7, pad=2)
        for ax in axes:
            ax.set_xticks([])
            ax.set_yticks([])
        for ax in axes[tiles:]:
            ax.set_axis_off()
        legend = [Line2D([], [], color=pred_color, lw=2, label='prediction',
                         path_effects=_HALO)]
        if any(m is not None for m in gt_masks):
            legend.append(Line2D([], [], color=gt_color, lw=1.6, ls='--',
                                 label='ground truth', path_effects=_HALO))
        note_h = (footer - 0.3) / height
        fig.legend(handles=legend, loc='lower left', fontsize=7,
                   ncol=len(legend), frameon=False,
                   bbox_to_anchor=(0, note_h))
        fig.text(0.01, 0.005, note, fontsize=6, ha='left', va='bottom',
                 color='#444444')
        if title:
            fig.suptitle(textwrap.shorten(title, 80), fontsize=8)
        fig.tight_layout(rect=(0, footer / height, 1, 1))
        picture = figure_to_rgb(fig)
        self.set_image(picture)
        return picture

    @staticmethod
    def _pred_title(phrase: str, scores, row: int, pred: np.ndarray,
                    gt: Optional[np.ndarray], wrap: int) -> str:
        parts = [textwrap.fill(textwrap.shorten(phrase, 3 * wrap), wrap)]
        facts = []
        if scores is not None:
            facts.append(f'score {float(scores[row]):.2f}')
        if gt is not None:
            facts.append(f'IoU {mask_iou(pred, gt):.2f}')
        if facts:
            parts.append(', '.join(facts))
        return '\n'.join(parts)

    def add_phrase_masks(self, name: str, image: np.ndarray,
                         phrases: Sequence[str], pred_masks: np.ndarray,
                         scores=None, gt_masks=None,
                         out_file: Optional[str] = None,
                         step: int = 0) -> np.ndarray:
        """Draw (see :meth:`draw_phrase_masks`); write ``out_file`` if given,
        else send the picture to the visualisation backends."""
        picture = self.draw_phrase_masks(image, phrases, pred_masks, scores,
                                         gt_masks, title=name)
        if out_file is not None:
            save_rgb(picture, out_file)
        else:
            self.add_image(name, picture, step)
        return picture
