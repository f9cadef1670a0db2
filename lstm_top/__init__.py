"""lstm-top: htop for neural-network training.

``from lstm_top import Logger`` is all a training script needs; it pulls in the standard
library only (no numpy, no Textual), so importing it costs nothing.
"""

from lstm_top.hook.baseline import constant_guess_loss
from lstm_top.hook.logger import Logger, LoggerWarning
from lstm_top.hook.loss_stats import LossStats

__version__ = "0.1.0"
__all__ = ["Logger", "LoggerWarning", "LossStats", "__version__", "constant_guess_loss"]
