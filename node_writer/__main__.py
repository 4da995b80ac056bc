import sys

from node_writer.cli import main

sys.exit(main())
