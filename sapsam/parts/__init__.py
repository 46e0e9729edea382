"""Offline part pipeline of SAP-SAM: ATR phrases (stage 1), caption
splitting (stage 3), Person-SAM part masks (stage 4) and their file
formats.

Names load on first use: the dataset layer reads the part files through
``sapsam.parts.formats`` without importing the stage-1 phrase generators
(BLIP-2) or the stage-3 caption splitters (LLM). The registries import
those subpackages through their ``locations``.
"""
from sapsam.utils.lazy_names import lazy_names

_FORMATS = (
    'ATR_CLASSES', 'ATR_CROP_GROUPS', 'ATR_GROUP_NAMES', 'ATR_GROUP_PROMPTS',
    'ATR_PART_GROUPS', 'PartFileError', 'data_final_filename',
    'find_part_files', 'flatten_attributes', 'official_name', 'pair_by_stem',
    'part_file_candidates', 'read_atr_descriptions', 'read_atr_labels',
    'read_data_final', 'read_score_dict', 'score_dict_filename', 'seg_stem',
    'write_atr_descriptions', 'write_data_final', 'write_score_dict')
_SUBMODULE_OF = dict(
    {name: 'formats' for name in _FORMATS},
    PartRegion='regions', extract_part_region='regions',
    BasePhraseGenerator='phrase_generators',
    Blip2PhraseGenerator='phrase_generators',
    TemplatePhraseGenerator='phrase_generators',
    BaseCaptionSplitter='caption_splitters', SplitResult='caption_splitters',
    LLMCaptionSplitter='caption_splitters',
    RuleCaptionSplitter='caption_splitters',
    parse_phrase_list='caption_splitters',
    evaluate_part_masks='evaluation', format_iou_table='evaluation',
    match_phrase='evaluation', synthetic_phrase_groups='evaluation')

__all__ = list(_SUBMODULE_OF)


__getattr__, __dir__ = lazy_names(__name__, _SUBMODULE_OF)
