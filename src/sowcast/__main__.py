import sys

from sowcast.cli.main import main

sys.exit(main())
