from .id_loss import IDLoss
from .sdm_loss import SDMLoss

__all__ = ['SDMLoss', 'IDLoss']
