"""sapsam parameter names -> the names the official SAP-SAM/IRRA code uses.

The official optimiser rules (``OFFICIAL_RULES``, docs/fidelity.md row O1)
are substring tests on the official names: ``cross`` -> 5x, ``bias`` -> 2x
without weight decay, ``classifier``/``mlm_head``/``mim_decoder`` -> 5x.
sapsam's own module names would make other rules fire (its cross-modal
decoder's LayerNorms contain ``cross``; ELCA's attention biases are under
``alignment_head``), so the constructor tests the rules on the official name
of each parameter, obtained here. Module names (and so checkpoint keys)
stay sapsam's.

Modules without an official counterpart (the Table 6 avgPool/Conv1D/MHSA
heads, whose code was not released) are named as parts of the official
matching block: their layers as ``cross_attn_matching.*`` (new modules,
5x, biases 2x) and the MHSA learnable tokens as ``img_cls_token`` /
``txt_cls_token`` (the names left commented out in the official code; base
lr, like the official ``mim_part_mask_token``).
"""
import re
from typing import List, Tuple

#: The official rules (solver/build.py), in order; later ones override.
OFFICIAL_RULES = [
    dict(keys=['cross'], lr_mult=5.0),
    dict(keys=['bias'], lr_mult=2.0, decay_mult=0.0),
    dict(keys=['classifier', 'mlm_head'], lr_mult=5.0),
    dict(keys=['mim_decoder'], lr_mult=5.0),
]

#: ``(pattern, replacement)`` applied with :func:`re.sub`; the first
#: pattern that matches the full sapsam name wins.
OFFICIAL_NAME_MAP: List[Tuple[str, str]] = [
    # CLIP keeps OpenAI's names under IRRA's ``base_model``.
    (r'^backbone\.(.+)$', r'base_model.\1'),
    # IRRA's cross-former: cross_attn, ln_pre_t/ln_pre_i, the transformer
    # and its final LayerNorm.
    (r'^cross_modal_decoder\.cross_attn\.(.+)$', r'cross_attn.\1'),
    (r'^cross_modal_decoder\.ln_query\.(.+)$', r'ln_pre_t.\1'),
    (r'^cross_modal_decoder\.ln_context\.(.+)$', r'ln_pre_i.\1'),
    (r'^cross_modal_decoder\.transformer\.(.+)$',
     r'cross_modal_transformer.\1'),
    (r'^cross_modal_decoder\.ln_post\.(.+)$', r'ln_post.\1'),
    (r'^mlm_head\.mlp\.(.+)$', r'mlm_head.\1'),
    # ELCA = the official matching head.
    (r'^alignment_head\.cross_attn\.(.+)$', r'cross_attn_matching.\1'),
    (r'^alignment_head\.classifier\.(.+)$', r'classifier_matching.\1'),
    (r'^alignment_head\.image_token$', r'img_cls_token'),
    (r'^alignment_head\.text_token$', r'txt_cls_token'),
    (r'^alignment_head\.(.+)$', r'cross_attn_matching.\1'),
    # Image decoding (mim_part): mask token, linear decoder; the discrete
    # variants' MLP is the official (undefined) ``mim_head``.
    (r'^image_decoding_head\.mask_token$', r'mim_part_mask_token'),
    (r'^image_decoding_head\.predictor\.(weight|bias)$', r'mim_decoder.\1'),
    (r'^image_decoding_head\.predictor\.(.+)$', r'mim_head.\1'),
    # IRRA's identity classifier.
    (r'^id_loss\.classifier\.(.+)$', r'classifier.\1'),
]
_COMPILED = [(re.compile(p), r) for p, r in OFFICIAL_NAME_MAP]


def official_name(name: str) -> str:
    """The official name of the sapsam parameter ``name``.

    Raises:
        KeyError: when no entry of :data:`OFFICIAL_NAME_MAP` covers it (a new
            module must say which official group it belongs to).
    """
    for pattern, replacement in _COMPILED:
        if pattern.match(name):
            return pattern.sub(replacement, name)
    raise KeyError(f'parameter {name!r} has no official name; add it to '
                   f'OFFICIAL_NAME_MAP in {__name__}')
