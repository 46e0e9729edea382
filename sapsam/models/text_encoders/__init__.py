from .bert_text_encoder import BertTextEncoder

__all__ = ['BertTextEncoder']
