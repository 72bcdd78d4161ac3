# SPDX-License-Identifier: ISC
"""`python3 -m harness sink ...`: the Sink fixture's server process."""

import atexit
import signal
import sys

from .core import _cleanup
from .sink import _sink_main

if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "sink":
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        sys.excepthook = sys.__excepthook__
        atexit.unregister(_cleanup)
        _sink_main(sys.argv[2:])
    else:
        sys.stderr.write("usage: python3 -m harness sink --dir DIR --listen HOST:PORT "
                         "[--hostname H] [--tls-cert C --tls-key K]\n")
        sys.exit(2)
