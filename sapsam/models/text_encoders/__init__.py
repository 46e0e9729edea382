from .bert_text_encoder import BertTextEncoder, check_phrases

__all__ = ['BertTextEncoder', 'check_phrases']
