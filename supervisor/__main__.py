"""`python -m supervisor --config site.yaml ...`: the predecessor's command line."""

import sys

from pipeline.run import main

sys.exit(main(prog="python -m supervisor"))
