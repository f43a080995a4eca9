import sys

from freqlens.cli import main

sys.exit(main())
