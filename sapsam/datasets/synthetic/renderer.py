"""Procedural pedestrian renderer: an RGB image and its ATR label map.

The label map is drawn first, back to front, with PIL polygons and ellipses
(ids of :data:`~.attributes.ATR_CLASSES`); the image is then coloured from
it, so every pixel's label is exact. Left/right limbs follow the person's
side, as in ATR: in a front view the person's right arm is on the image's
left.
"""
from dataclasses import dataclass, field
from typing import Dict, Optional, Tuple

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from .attributes import (COLOURS, GROUP_LABELS, HAIR_COLOURS, NO_SLEEVES,
                         SHORT_SLEEVES, SKIN_TONES)

# Label ids used by the renderer.
HAT, HAIR, SUNGLASS, UPPER, SKIRT, PANTS, DRESS = 1, 2, 3, 4, 5, 6, 7
LEFT_SHOE, RIGHT_SHOE, FACE, LEFT_LEG, RIGHT_LEG = 9, 10, 11, 12, 13
LEFT_ARM, RIGHT_ARM, BAG = 14, 15, 16

SCENE_COLOURS = ((168, 170, 176), (190, 180, 160), (120, 132, 140),
                 (200, 200, 196), (150, 140, 128), (96, 104, 112),
                 (176, 188, 170))
GROUND_COLOURS = ((110, 110, 112), (140, 130, 120), (90, 96, 90),
                  (170, 166, 160))
VIEWS = ('front', 'back')
OCCLUSIONS = ('bottom', 'pole', 'side')


@dataclass
class RenderedPedestrian:
    """One rendered image.

    Attributes:
        image: (H, W, 3) uint8 RGB image.
        label_map: (H, W) uint8 ATR label map.
        meta: ``view`` ('front'/'back') and ``occlusion`` (None or its kind).
    """
    image: np.ndarray
    label_map: np.ndarray
    meta: Dict = field(default_factory=dict)


def group_masks(label_map: np.ndarray) -> Dict[str, np.ndarray]:
    """Binary mask of every phrase group in a label map.

    Args:
        label_map: (H, W) ATR label map.

    Returns:
        dict: group key -> (H, W) bool mask (union of the group's ids).
    """
    return {key: np.isin(label_map, ids) for key, ids in GROUP_LABELS.items()}


class _Body:
    """Body geometry in pixels from the person's height ``u``."""

    def __init__(self, rng: np.random.Generator, cx: float, y0: float,
                 u: float, female: bool):
        self.cx, self.y0, self.u = cx, y0, u
        self.head_cx = cx + rng.uniform(-0.01, 0.01) * u
        self.head_cy = y0 + 0.068 * u
        self.head_rx, self.head_ry = 0.052 * u, 0.066 * u
        self.ys = y0 + 0.15 * u  # shoulder line
        self.sw = (0.11 if female else 0.125) * u  # shoulder half-width
        self.wy = self.ys + 0.17 * u  # waist line
        self.ww = (0.075 if female else 0.09) * u
        self.yh = y0 + 0.48 * u  # hip line
        self.hw = (0.105 if female else 0.095) * u
        self.ya = y0 + 0.955 * u  # ankle line
        self.yf = y0 + u  # sole line
        self.spread = rng.uniform(0.0, 0.05) * u
        self.abduct = rng.uniform(0.0, 0.035) * u

    def leg(self, side: int, top: float, bottom: float, widen: float = 0.0):
        """Polygon of one leg between two heights (side -1 = image left)."""
        hip_x = self.cx + side * 0.048 * self.u
        ankle_x = self.cx + side * (0.04 * self.u + self.spread)

        def at(y):
            t = (y - self.yh) / (self.ya - self.yh)
            x = hip_x + t * (ankle_x - hip_x)
            half = (0.05 + t * (0.028 - 0.05) + widen) * self.u
            return x - half, x + half

        (l0, r0), (l1, r1) = at(top), at(bottom)
        return [(l0, top), (r0, top), (r1, bottom), (l1, bottom)]

    def ankle_x(self, side: int) -> float:
        return self.cx + side * (0.04 * self.u + self.spread)

    def arm(self, side: int, t0: float, t1: float):
        """Polygon of the arm between fractions t0..t1 of its length."""
        u = self.u
        sx, sy = self.cx + side * (self.sw - 0.025 * u), self.ys + 0.015 * u
        wx = self.cx + side * (self.sw + 0.015 * u + self.abduct)
        wy = self.ys + 0.31 * u

        def at(t):
            x, y = sx + t * (wx - sx), sy + t * (wy - sy)
            half = (0.032 + t * (0.022 - 0.032)) * u
            return x, y, half

        x0, y0, h0 = at(t0)
        x1, y1, h1 = at(t1)
        return [(x0 - h0, y0), (x0 + h0, y0), (x1 + h1, y1), (x1 - h1, y1)]

    def wrist(self, side: int) -> Tuple[float, float]:
        u = self.u
        return (self.cx + side * (self.sw + 0.015 * u + self.abduct),
                self.ys + 0.31 * u)

    def torso(self, bottom: float, bottom_half: float, shoulder_scale=1.0):
        cx, u = self.cx, self.u
        sw = self.sw * shoulder_scale
        return [(cx - sw + 0.02 * u, self.ys - 0.012 * u),
                (cx + sw - 0.02 * u, self.ys - 0.012 * u),
                (cx + sw, self.ys + 0.01 * u), (cx + self.ww, self.wy),
                (cx + bottom_half, bottom), (cx - bottom_half, bottom),
                (cx - self.ww, self.wy), (cx - sw, self.ys + 0.01 * u)]


def _ellipse(draw, cx, cy, rx, ry, fill):
    draw.ellipse([cx - rx, cy - ry, cx + rx, cy + ry], fill=fill)


def _draw_labels(attrs: dict, body: _Body, view: str, bag_side: int,
                 size: Tuple[int, int]) -> np.ndarray:
    """Draw the (H, W) label map of one pedestrian, back to front."""
    height, width = size
    canvas = Image.new('L', (width, height), 0)
    draw = ImageDraw.Draw(canvas)
    u, cx = body.u, body.cx
    front = view == 'front'
    # image side -1 (left) shows the person's right limbs in a front view
    limb = {-1: (RIGHT_ARM, RIGHT_LEG, RIGHT_SHOE) if front else
            (LEFT_ARM, LEFT_LEG, LEFT_SHOE),
            1: (LEFT_ARM, LEFT_LEG, LEFT_SHOE) if front else
            (RIGHT_ARM, RIGHT_LEG, RIGHT_SHOE)}
    bag, hair, upper = attrs['bag'], attrs['hair'], attrs['upper']
    lower_type = attrs['lower']['type']
    line = max(1, int(round(0.016 * u)))

    if front and bag and bag['type'] == 'backpack':
        draw.rectangle([cx - 0.1 * u, body.ys - 0.035 * u, cx + 0.1 * u,
                        body.yh - 0.06 * u], fill=BAG)
    if front and hair['length'] == 'long':
        draw.rectangle([body.head_cx - 1.1 * body.head_rx, body.head_cy,
                        body.head_cx + 1.1 * body.head_rx,
                        body.ys + 0.1 * u], fill=HAIR)
    # legs, lower garment, shoes
    for side in (-1, 1):
        draw.polygon(body.leg(side, body.yh - 0.01 * u, body.ya),
                     fill=limb[side][1])
    if lower_type in ('pants', 'jeans', 'shorts'):
        bottom = body.ya - 0.01 * u if lower_type != 'shorts' else \
            body.yh + 0.19 * u
        for side in (-1, 1):
            draw.polygon(body.leg(side, body.yh - 0.02 * u, bottom, 0.006),
                         fill=PANTS)
        draw.rectangle([cx - body.hw, body.yh - 0.03 * u, cx + body.hw,
                        body.yh + 0.06 * u], fill=PANTS)
    elif lower_type in ('skirt', 'dress'):
        hem = body.yh + (0.2 if lower_type == 'skirt' else 0.26) * u
        flare = body.hw + 0.06 * u
        draw.polygon([(cx - body.hw - 0.005 * u, body.yh - 0.04 * u),
                      (cx + body.hw + 0.005 * u, body.yh - 0.04 * u),
                      (cx + flare, hem), (cx - flare, hem)],
                     fill=SKIRT if lower_type == 'skirt' else DRESS)
    shoe_type = attrs['shoes']['type']
    for side in (-1, 1):
        ax = body.ankle_x(side)
        _ellipse(draw, ax, body.yf - 0.022 * u, 0.038 * u, 0.024 * u,
                 limb[side][2])
        if shoe_type == 'boots':
            draw.rectangle([ax - 0.03 * u, body.ya - 0.075 * u,
                            ax + 0.03 * u, body.yf - 0.02 * u],
                           fill=limb[side][2])
    # neck, torso
    draw.rectangle([body.head_cx - 0.022 * u, body.head_cy + 0.03 * u,
                    body.head_cx + 0.022 * u, body.ys + 0.01 * u], fill=FACE)
    if lower_type == 'dress':
        draw.polygon(body.torso(body.yh, body.hw, 0.85), fill=DRESS)
    if upper is not None:
        length = {'coat': 0.1, 'jacket': 0.035}.get(upper['type'], 0.01)
        widen = 0.02 * u if upper['type'] == 'coat' else 0.0
        shoulder = 0.8 if upper['type'] in NO_SLEEVES else 1.0
        draw.polygon(body.torso(body.yh + length * u, body.hw + widen,
                                shoulder), fill=UPPER)
    # arms: sleeve part is upper-clothes, the rest skin
    if upper is None or upper['type'] in NO_SLEEVES:
        sleeve = 0.0
    elif upper['type'] in SHORT_SLEEVES:
        sleeve = 0.4
    else:
        sleeve = 0.93
    for side in (-1, 1):
        if sleeve < 1.0:
            draw.polygon(body.arm(side, sleeve * 0.9, 1.0),
                         fill=limb[side][0])
        if sleeve > 0.0:
            draw.polygon(body.arm(side, 0.0, sleeve), fill=UPPER)
        wx, wy = body.wrist(side)
        _ellipse(draw, wx, wy + 0.012 * u, 0.02 * u, 0.024 * u,
                 limb[side][0])
    # head
    hx, hy, rx, ry = body.head_cx, body.head_cy, body.head_rx, body.head_ry
    _ellipse(draw, hx, hy - 0.006 * u, rx * 1.08, ry * 1.04, HAIR)
    if front:
        _ellipse(draw, hx, hy + 0.012 * u, rx * 0.86, ry * 0.82, FACE)
        if hair['length'] == 'long':
            for side in (-1, 1):
                x = hx + side * rx * 0.95
                draw.rectangle([x - 0.016 * u, hy, x + 0.016 * u,
                                body.ys + 0.07 * u], fill=HAIR)
        if attrs['glasses']:
            ey = hy + 0.004 * u
            if attrs['glasses'] == 'sunglasses':
                draw.rectangle([hx - 0.042 * u, ey - 0.01 * u,
                                hx + 0.042 * u, ey + 0.01 * u], fill=SUNGLASS)
            else:
                for side in (-1, 1):
                    x = hx + side * 0.022 * u
                    draw.rectangle([x - 0.019 * u, ey - 0.011 * u,
                                    x + 0.019 * u, ey + 0.011 * u],
                                   outline=SUNGLASS, width=1)
    elif hair['length'] == 'long':
        draw.rectangle([hx - rx * 1.05, hy, hx + rx * 1.05,
                        body.ys + 0.13 * u], fill=HAIR)
    hat = attrs['hat']
    if hat:
        top = hy - ry * 1.12
        if hat['type'] == 'beanie':
            draw.chord([hx - rx * 1.14, top, hx + rx * 1.14,
                        hy + ry * 0.7], 180, 360, fill=HAT)
        elif hat['type'] == 'cap':
            draw.chord([hx - rx * 1.1, top, hx + rx * 1.1, hy + ry * 0.5],
                       180, 360, fill=HAT)
            brim_y = hy - 0.1 * ry
            brim = (hx - rx * 1.5, hx + rx * 1.0) if front else \
                (hx - rx * 1.15, hx + rx * 1.15)
            draw.rectangle([brim[0], brim_y - 0.012 * u, brim[1], brim_y],
                           fill=HAT)
        else:
            draw.rectangle([hx - rx * 0.9, top - 0.03 * u, hx + rx * 0.9,
                            hy - 0.35 * ry], fill=HAT)
            draw.rectangle([hx - rx * 1.7, hy - 0.45 * ry, hx + rx * 1.7,
                            hy - 0.3 * ry], fill=HAT)
    # bags
    if bag:
        if bag['type'] == 'backpack':
            if front:
                for side in (-1, 1):
                    draw.line([(cx + side * 0.065 * u, body.ys - 0.01 * u),
                               (cx + side * 0.072 * u, body.ys + 0.17 * u)],
                              fill=BAG, width=max(2, line))
            else:
                draw.rounded_rectangle(
                    [cx - 0.095 * u, body.ys + 0.005 * u, cx + 0.095 * u,
                     body.yh - 0.05 * u], radius=0.03 * u, fill=BAG)
        elif bag['type'] == 'handbag':
            wx, wy = body.wrist(bag_side)
            draw.line([(wx - 0.03 * u, wy + 0.04 * u), (wx, wy),
                       (wx + 0.03 * u, wy + 0.04 * u)], fill=BAG, width=line)
            draw.rectangle([wx - 0.045 * u, wy + 0.035 * u, wx + 0.045 * u,
                            wy + 0.115 * u], fill=BAG)
        else:
            draw.line([(cx - bag_side * body.sw * 0.7, body.ys),
                       (cx + bag_side * (body.hw + 0.01 * u),
                        body.yh - 0.04 * u)], fill=BAG, width=line)
            bx = cx + bag_side * (body.hw + 0.035 * u)
            draw.rectangle([bx - 0.04 * u, body.yh - 0.06 * u,
                            bx + 0.04 * u, body.yh + 0.035 * u], fill=BAG)
    return np.asarray(canvas, dtype=np.uint8).copy()


def _smooth_noise(rng, height, width, grid=(6, 4), amplitude=1.0):
    """(H, W) low-frequency noise: a random grid upsampled bilinearly."""
    coarse = rng.uniform(-amplitude, amplitude, grid).astype(np.float32)
    return np.asarray(Image.fromarray(coarse, mode='F').resize(
        (width, height), Image.BILINEAR))


def _background(rng, height, width, floor_y):
    base = np.array(SCENE_COLOURS[rng.integers(len(SCENE_COLOURS))], float)
    base = base * rng.uniform(0.8, 1.15) + rng.normal(0, 10, 3)
    yy = np.linspace(-0.5, 0.5, height)[:, None, None]
    img = np.broadcast_to(base * (1 + rng.uniform(-0.2, 0.2) * yy),
                          (height, width, 3)).copy()
    for _ in range(int(rng.integers(1, 5))):  # windows, doors, signs, cars
        x0 = int(rng.integers(-width // 4, width))
        y0 = int(rng.integers(-height // 4, int(floor_y)))
        w = int(rng.integers(width // 8, width // 2 + 2))
        h = int(rng.integers(height // 10, height // 3))
        img[max(0, y0):max(0, y0 + h), max(0, x0):max(0, x0 + w)] = \
            rng.integers(20, 236, 3)
    ground = np.array(GROUND_COLOURS[rng.integers(len(GROUND_COLOURS))],
                      float) * rng.uniform(0.8, 1.2)
    img[int(floor_y):] = ground
    img += _smooth_noise(rng, height, width, amplitude=18.0)[..., None]
    return img.astype(np.float32)


def _colour_table(attrs: dict, rng) -> np.ndarray:
    """(18, 3) colour per ATR id, jittered per image."""
    table = np.zeros((18, 3), np.float32)
    skin = np.array(SKIN_TONES[attrs['skin']], np.float32)
    table[FACE] = skin
    table[[LEFT_LEG, RIGHT_LEG, LEFT_ARM, RIGHT_ARM]] = skin * 0.96
    table[HAIR] = HAIR_COLOURS[attrs['hair']['colour']]
    if attrs['hat']:
        table[HAT] = COLOURS[attrs['hat']['colour']]
    table[SUNGLASS] = (18, 18, 22) if attrs['glasses'] == 'sunglasses' \
        else (60, 56, 52)
    if attrs['upper']:
        table[UPPER] = COLOURS[attrs['upper']['colour']]
    table[[SKIRT, PANTS, DRESS]] = COLOURS[attrs['lower']['colour']]
    table[[LEFT_SHOE, RIGHT_SHOE]] = COLOURS[attrs['shoes']['colour']]
    if attrs['bag']:
        table[BAG] = COLOURS[attrs['bag']['colour']]
    gain = rng.uniform(0.92, 1.08, (18, 1))
    return np.clip(table * gain + rng.normal(0, 5, (18, 3)), 0, 255)


def _garment_details(colours, label_map, attrs, body, view, xx, yy):
    """Paint the cues that tell garment types apart (in place).

    Shirt: white collar and a button placket; jacket: open front showing a
    contrasting inner layer; sweater: darker ribbed hem; sneakers: white
    soles. Labels are unchanged (the cues belong to their garment).
    """
    u, cx = body.u, body.cx
    upper_type = attrs['upper']['type'] if attrs['upper'] else None
    torso = (label_map == UPPER) & (yy < body.yh + 0.2 * u) & \
        (np.abs(xx - cx) < body.sw - 0.03 * u)
    if view == 'front' and upper_type == 'shirt':
        collar = torso & (yy < body.ys + 0.035 * u) & \
            (np.abs(xx - cx) < 0.04 * u)
        colours[collar] = (236, 236, 232)
        placket = torso & ~collar & (np.abs(xx - cx) < 0.007 * u)
        colours[placket] *= 0.6
    elif view == 'front' and upper_type == 'jacket':
        inner = torso & (np.abs(xx - cx) < 0.022 * u)
        dark = sum(COLOURS[attrs['upper']['colour']]) < 300
        colours[inner] = (226, 226, 222) if dark else (40, 40, 44)
    elif upper_type == 'sweater':
        hem = torso & (yy > body.yh - 0.025 * u)
        colours[hem] *= 0.7
    if attrs['shoes']['type'] == 'sneakers':
        soles = np.isin(label_map, (LEFT_SHOE, RIGHT_SHOE)) & \
            (yy > body.yf - 0.014 * u)
        colours[soles] = (238, 238, 236)


def _occlude(rng, image, label_map, kind):
    """Paint an occluder of ``kind`` over image and label map (label 0)."""
    height, width = label_map.shape
    region = np.zeros((height, width), bool)
    if kind == 'bottom':
        region[height - int(rng.uniform(0.08, 0.22) * height):] = True
    elif kind == 'pole':
        w = max(3, int(rng.uniform(0.08, 0.16) * width))
        x = int(rng.integers(width // 5, max(width // 5 + 1, 4 * width // 5 -
                                                w)))
        region[:, x:x + w] = True
    else:
        w = int(rng.uniform(0.15, 0.3) * width)
        y = int(rng.uniform(0.3, 0.6) * height)
        if rng.random() < 0.5:
            region[y:, :w] = True
        else:
            region[y:, width - w:] = True
    colour = rng.integers(20, 236, 3).astype(np.float32)
    shade = _smooth_noise(rng, height, width, (3, 3), 25.0)[..., None]
    image[region] = (colour + shade)[region]
    label_map[region] = 0


def render_pedestrian(attrs: dict,
                      rng: np.random.Generator,
                      size: Tuple[int, int],
                      view: Optional[str] = None,
                      occlusion_prob: float = 0.2) -> RenderedPedestrian:
    """Render one image of an identity with random pose and conditions.

    Pose (leg spread, arm angle), scale, position, view, background,
    lighting, blur, partial occlusion and pixel noise all come from ``rng``,
    so two renders never share their pixels.

    Args:
        attrs: Identity attributes (:func:`~.attributes.sample_identity`).
        rng: Random generator of this image.
        size: ``(height, width)`` of the image.
        view: 'front' or 'back'; random when None.
        occlusion_prob: Probability of a partial occluder.

    Returns:
        RenderedPedestrian: Image (H, W, 3) uint8, label map (H, W) uint8
        and meta (view, occlusion).
    """
    height, width = size
    view = view or VIEWS[int(rng.choice(2, p=(0.6, 0.4)))]
    u = height * rng.uniform(0.8, 0.95)
    cx = width * (0.5 + rng.uniform(-0.07, 0.07))
    y0 = rng.uniform(0.01, 0.99) * (height - u)
    body = _Body(rng, cx, y0, u, attrs['gender'] == 'female')
    bag_side = int(rng.choice((-1, 1)))
    label_map = _draw_labels(attrs, body, view, bag_side, size)

    floor_y = min(height - 1, body.yf - rng.uniform(0.02, 0.1) * height)
    image = _background(rng, height, width, floor_y)
    person = label_map > 0
    colours = _colour_table(attrs, rng)[label_map]
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    pattern = attrs['upper'] and attrs['upper']['pattern']
    if pattern:
        period = max(3, int(round(0.035 * u)))
        mask = ((yy - y0) // (period / 2)) % 2 == 0
        if pattern == 'checked':
            mask ^= ((xx - cx) // (period / 2)) % 2 == 0
        main = COLOURS[attrs['upper']['colour']]
        contrast = np.array((20, 20, 24) if sum(main) > 420 else
                            (236, 236, 232), np.float32)
        mask &= label_map == UPPER
        colours[mask] = contrast * (0.5 if pattern == 'checked' else 1.0) + \
            colours[mask] * (0.5 if pattern == 'checked' else 0.0)
    _garment_details(colours, label_map, attrs, body, view, xx, yy)
    roundness = 1 - 0.22 * np.clip(((xx - cx) / (0.2 * u))**2, 0, 1)
    image[person] = (colours * roundness[..., None])[person]

    occlusion = None
    if rng.random() < occlusion_prob:
        occlusion = OCCLUSIONS[int(rng.integers(len(OCCLUSIONS)))]
        _occlude(rng, image, label_map, occlusion)

    light = rng.uniform(0.75, 1.2) * rng.uniform(0.93, 1.07, 3)
    gradient = 1 + rng.uniform(-0.12, 0.12) * (xx / width - 0.5) * 2
    image = np.clip(image * (light * gradient[..., None]).astype(np.float32),
                    0, 255)
    blurred = Image.fromarray(image.astype(np.uint8)).filter(
        ImageFilter.GaussianBlur(radius=rng.uniform(0.2, 0.7)))
    noisy = np.asarray(blurred, np.float32) + rng.uniform(2.0, 6.0) * \
        rng.standard_normal((height, width, 3), dtype=np.float32)
    image = np.clip(np.round(noisy), 0, 255).astype(np.uint8)
    return RenderedPedestrian(image, label_map,
                              dict(view=view, occlusion=occlusion))
