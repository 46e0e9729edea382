"""Caption tokenisation transform."""
from mmcv.transforms import BaseTransform

from sapsam.registry import TASK_UTILS, TRANSFORMS


@TRANSFORMS.register_module()
class TokenizeCaption(BaseTransform):
    """Tokenise ``results['caption']`` into ``results['text_ids']``.

    Required keys: ``caption``. Added keys: ``text_ids`` (LongTensor
    ``(L,)``).

    Args:
        tokenizer (dict): Tokenizer config. Defaults to the CLIP BPE with
            77 tokens.

    Examples:
        >>> TokenizeCaption()(dict(caption='a man in a red coat'))['text_ids'].shape
        torch.Size([77])
    """

    def __init__(self, tokenizer: dict = dict(type='CLIPTokenizer',
                                               context_length=77)) -> None:
        self.tokenizer = TASK_UTILS.build(tokenizer)

    def transform(self, results: dict) -> dict:
        caption = results.get('caption')
        if not isinstance(caption, str) or not caption.strip():
            raise ValueError(f'sample {results.get("img_path", "")!r} '
                             f'(caption_idx {results.get("caption_idx")}) has '
                             f'an empty caption')
        results['text_ids'] = self.tokenizer(caption)
        return results
