from lstm_top.cli import entry

entry()
