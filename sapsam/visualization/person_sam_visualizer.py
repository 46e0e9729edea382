"""Pictures of Person-SAM phrase masks."""
import textwrap
from typing import Optional, Sequence

import numpy as np
from matplotlib.figure import Figure
from mmengine.visualization import Visualizer

from sapsam.registry import VISUALIZERS
from .figure_utils import figure_to_rgb, save_rgb

PRED_COLOR = (230, 40, 40)
GT_COLOR = (30, 160, 60)


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

    One row per phrase: the image, the predicted mask overlaid in red
    (titled with the phrase and the IoU-head score) and, where known, the
    ground-truth mask in green with the IoU of the prediction.

    Args:
        name (str): Instance name.
        tile_inches (float): Height of one tile in inches.
        dpi (int): Resolution of the picture.
        **kwargs: Passed to :class:`mmengine.visualization.Visualizer`.
    """

    def __init__(self, name: str = 'person_sam_visualizer',
                 tile_inches: float = 2.6, dpi: int = 100, **kwargs) -> None:
        super().__init__(name=name, **kwargs)
        self.tile_inches = tile_inches
        self.dpi = dpi

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
        with_gt = any(m is not None for m in gt_masks)
        cols = 3 if with_gt else 2
        aspect = image.shape[1] / image.shape[0]
        tile_h = self.tile_inches
        tile_w = max(tile_h * aspect, 1.2)
        fig = Figure(figsize=(cols * tile_w + 0.4,
                              num * (tile_h + 0.7) + (0.4 if title else 0)),
                     dpi=self.dpi)
        axes = fig.subplots(num, cols, squeeze=False)
        wrap = max(14, int(tile_w * 11))
        for row, phrase in enumerate(phrases):
            pred = pred_masks[row].astype(bool)
            gt = gt_masks[row]
            panels = [(image, 'image'),
                      (overlay_mask(image, pred, PRED_COLOR),
                       self._pred_title(phrase, scores, row, pred, gt, wrap))]
            if with_gt:
                panels.append(
                    (overlay_mask(image, gt.astype(bool), GT_COLOR),
                     'ground truth') if gt is not None else
                    (image, 'no ground truth'))
            for ax, (picture, caption) in zip(axes[row], panels):
                ax.imshow(picture)
                ax.set_title(caption, fontsize=7, pad=2)
                ax.set_xticks([])
                ax.set_yticks([])
        if title:
            fig.suptitle(textwrap.shorten(title, 80), fontsize=8)
        fig.tight_layout()
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
