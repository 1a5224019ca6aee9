import sys

from minitwit.cli import main

sys.exit(main())
