"""Runs inside the training process: standard library only, never imports the monitor."""

from lstm_top.hook.baseline import constant_guess_loss
from lstm_top.hook.logger import Logger, LoggerWarning
from lstm_top.hook.loss_stats import LossStats

__all__ = ["Logger", "LoggerWarning", "LossStats", "constant_guess_loss"]
