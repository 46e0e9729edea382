"""Functional search API over :class:`TextToImageRetrievalInferencer`.

Typical use::

    retriever = init_retriever('configs/baseline/clip_sdm_cuhk.py',
                               'best.pth')
    index = build_gallery_index(retriever, 'my_images/')  # features only
    index.save('my_images.index')
    index = load_gallery_index(retriever, 'my_images.index')  # same model
    hits = search_gallery(retriever, index, ['a woman in a red coat'],
                          topk=10)
    hits[0][0]  # {'rank': 1, 'index': .., 'path': .., 'score': .., 'pid': ..}

Each function is one method of the inferencer that :func:`init_retriever`
returns; see ``retrieval_inferencer.py`` for the contract a retriever
follows.
"""
from typing import Any, Dict, List, Optional, Sequence, Union

import torch
from mmengine.config import Config

from .gallery_index import (IMAGE_EXTENSIONS, GalleryIndex,  # noqa: F401
                            folder_fingerprint, list_gallery_images,
                            read_gallery)
from .retrieval_inferencer import (TextToImageRetrievalInferencer,
                                   compute_model_identity, default_device,
                                   gallery_pipeline_cfg, query_pipeline_cfg)

__all__ = [
    'init_retriever', 'model_identity', 'gallery_preprocessing',
    'build_gallery_index', 'load_gallery_index', 'feature_dim',
    'encode_captions', 'search_gallery', 'default_device',
    'list_gallery_images', 'folder_fingerprint', 'gallery_pipeline_cfg',
    'query_pipeline_cfg', 'IMAGE_EXTENSIONS'
]


def _inferencer(retriever) -> TextToImageRetrievalInferencer:
    if not isinstance(retriever, TextToImageRetrievalInferencer):
        raise TypeError(f'{type(retriever).__name__} is not a retriever '
                        f'inferencer; build one with sapsam.apis.'
                        f'init_retriever(config, checkpoint)')
    return retriever


def init_retriever(config: Union[str, Config],
                   checkpoint: Optional[str] = None,
                   device: Optional[str] = None,
                   cfg_options: Optional[dict] = None
                   ) -> TextToImageRetrievalInferencer:
    """Build a retriever from a config and load its trained weights.

    Args:
        config (str | Config): Config file or object.
        checkpoint (str, optional): MMEngine checkpoint (``tools/train.py``
            output). When given, the backbone's ``pretrained`` file is not
            read (the checkpoint holds all weights) and every key must fit.
        device (str, optional): Device of the model. Defaults to
            :func:`default_device` (the GPU if there is one).
        cfg_options (dict, optional): Overrides merged into the config.

    Returns:
        TextToImageRetrievalInferencer: the model (``.model``, in eval
        mode), its config (``.cfg``) and checkpoint (``.checkpoint``).
    """
    return TextToImageRetrievalInferencer(config, checkpoint, device=device,
                                          cfg_options=cfg_options)


def model_identity(retriever) -> Dict[str, Any]:
    """What identifies the features a retriever produces (see
    :func:`compute_model_identity`); cached by the inferencer until its
    model loads a state dict. A bare ``nn.Module`` is hashed each call."""
    if isinstance(retriever, torch.nn.Module):
        return compute_model_identity(retriever)
    return _inferencer(retriever).identity()


def gallery_preprocessing(retriever) -> Dict[str, Any]:
    """The gallery image pipeline and normalisation, as JSON-ready data."""
    return _inferencer(retriever).preprocessing()


def build_gallery_index(retriever, gallery, batch_size: int = 64,
                        num_workers: int = 0,
                        progress: bool = True) -> GalleryIndex:
    """Encode a gallery (folder, list of paths, dataset or dataset config)
    into a :class:`GalleryIndex`, batch by batch (see
    :meth:`TextToImageRetrievalInferencer.build_index`)."""
    return _inferencer(retriever).build_index(
        gallery, batch_size=batch_size, num_workers=num_workers,
        progress=progress)


def load_gallery_index(retriever, path: str) -> GalleryIndex:
    """Read a saved index and check that ``retriever`` built it.

    Images deleted since the index was built are left out of the results
    (with a warning naming them).

    Raises:
        ValueError: a corrupted index, or features of another size than
            the model's (names the file).
        IndexMismatchError: another model or preprocessing built it.
    """
    return _inferencer(retriever).load_index(path)


def feature_dim(retriever) -> Optional[int]:
    """Size D of the model's global features (None if unknown)."""
    model = retriever if isinstance(retriever, torch.nn.Module) else \
        _inferencer(retriever).model
    return getattr(getattr(model, 'backbone', None), 'embed_dim', None)


def encode_captions(retriever, captions: Sequence[str],
                    batch_size: int = 256) -> torch.Tensor:
    """``(Q, D)`` L2-normalised features of sentences (the config's test
    caption pipeline)."""
    return _inferencer(retriever).encode_text(captions,
                                              batch_size=batch_size)


def search_gallery(retriever,
                   index: GalleryIndex,
                   queries: Union[str, Sequence[str]],
                   topk: int = 10,
                   check: bool = True) -> List[List[Dict[str, Any]]]:
    """Rank the gallery for every sentence.

    Args:
        retriever (TextToImageRetrievalInferencer): From
            :func:`init_retriever`.
        index (GalleryIndex): Built by this model.
        queries (str | list[str]): Sentences.
        topk (int): Results per sentence.
        check (bool): Refuse an index built by another model.

    Returns:
        list: per query, ``topk`` dicts with ``rank`` (1-based), ``index``
        (gallery row), ``path``, ``score`` (cosine) and ``pid`` (None for an
        unlabelled gallery), best first.
    """
    return _inferencer(retriever).search(queries, topk=topk, index=index,
                                         check=check)
