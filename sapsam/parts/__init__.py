"""Offline part pipeline of SAP-SAM: ATR phrases (stage 1), caption
splitting (stage 3), Person-SAM part masks (stage 4) and their file
formats."""
from .caption_splitters import *  # noqa: F401,F403
from .evaluation import (evaluate_part_masks, format_iou_table, match_phrase,
                         synthetic_phrase_groups)
from .formats import (ATR_CLASSES, ATR_CROP_GROUPS, ATR_GROUP_NAMES,
                      ATR_GROUP_PROMPTS, ATR_PART_GROUPS, PartFileError,
                      data_final_filename, find_part_files,
                      flatten_attributes, official_name, pair_by_stem,
                      read_atr_descriptions, read_atr_labels, read_data_final,
                      read_score_dict, score_dict_filename, seg_stem,
                      write_atr_descriptions, write_data_final,
                      write_score_dict)
from .phrase_generators import *  # noqa: F401,F403
from .regions import PartRegion, extract_part_region

__all__ = [
    'ATR_CLASSES', 'ATR_CROP_GROUPS', 'ATR_GROUP_NAMES', 'ATR_GROUP_PROMPTS',
    'ATR_PART_GROUPS', 'PartFileError', 'data_final_filename',
    'find_part_files', 'flatten_attributes', 'official_name', 'pair_by_stem',
    'read_atr_descriptions', 'read_atr_labels', 'read_data_final',
    'read_score_dict', 'score_dict_filename', 'seg_stem',
    'write_atr_descriptions', 'write_data_final', 'write_score_dict',
    'PartRegion', 'extract_part_region', 'BasePhraseGenerator',
    'Blip2PhraseGenerator', 'TemplatePhraseGenerator', 'BaseCaptionSplitter',
    'SplitResult', 'LLMCaptionSplitter', 'RuleCaptionSplitter',
    'parse_phrase_list', 'evaluate_part_masks', 'format_iou_table',
    'match_phrase', 'synthetic_phrase_groups'
]
