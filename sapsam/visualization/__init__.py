"""Pictures of retrieval results, Person-SAM masks and training samples."""
from .figure_utils import figure_to_rgb, read_rgb, save_rgb
from .person_sam_visualizer import PersonSAMVisualizer
from .retrieval_visualizer import RetrievalVisualizer
from .sample_visualizer import TrainingSampleVisualizer

__all__ = ['PersonSAMVisualizer', 'RetrievalVisualizer',
           'TrainingSampleVisualizer', 'figure_to_rgb', 'read_rgb', 'save_rgb']
