"""Helpers shared by the visualisers: read, render and save RGB pictures."""
import os
import os.path as osp
from typing import Optional

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from PIL import Image

__all__ = ['read_rgb', 'figure_to_rgb', 'save_rgb']


def read_rgb(path: str) -> Optional[np.ndarray]:
    """``(H, W, 3)`` uint8 RGB image, or None if it cannot be read."""
    try:
        with Image.open(path) as img:
            return np.asarray(img.convert('RGB'))
    except (OSError, ValueError):
        return None


def figure_to_rgb(fig: Figure) -> np.ndarray:
    """Render a matplotlib figure to a ``(H, W, 3)`` uint8 array."""
    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    return np.asarray(canvas.buffer_rgba())[..., :3].copy()


def save_rgb(image: np.ndarray, out_file: str) -> str:
    """Write an RGB array as PNG (or any format PIL infers), making the
    folder."""
    folder = osp.dirname(osp.abspath(out_file))
    os.makedirs(folder, exist_ok=True)
    Image.fromarray(image).save(out_file)
    return out_file
