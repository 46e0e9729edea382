"""Pictures of retrieval results and Person-SAM masks."""
from .figure_utils import figure_to_rgb, read_rgb, save_rgb
from .person_sam_visualizer import PersonSAMVisualizer
from .retrieval_visualizer import RetrievalVisualizer

__all__ = ['PersonSAMVisualizer', 'RetrievalVisualizer', 'figure_to_rgb',
           'read_rgb', 'save_rgb']
