"""Runs inside the training process: standard library only, never imports the monitor."""

from lstm_top.hook.logger import Logger, LoggerWarning

__all__ = ["Logger", "LoggerWarning"]
