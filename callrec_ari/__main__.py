import sys

from callrec_ari.cli import main

sys.exit(main())
