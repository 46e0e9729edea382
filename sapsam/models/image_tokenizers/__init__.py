from .dvae_image_tokenizer import DVAEImageTokenizer

__all__ = ['DVAEImageTokenizer']
