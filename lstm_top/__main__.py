import sys

from lstm_top.cli import main

sys.exit(main())
