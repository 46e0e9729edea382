from .binary_ce_loss import BinaryCELoss
from .dice_loss import DiceLoss
from .id_loss import IDLoss
from .sdm_loss import SDMLoss

__all__ = ['SDMLoss', 'IDLoss']
__all__ += ['BinaryCELoss', 'DiceLoss']
