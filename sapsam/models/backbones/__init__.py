from .clip_backbone import CLIP_ARCHS, CLIPBackbone, read_openai_clip_state_dict

__all__ = ['CLIPBackbone', 'CLIP_ARCHS', 'read_openai_clip_state_dict']
