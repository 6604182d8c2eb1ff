"""The camera process: capture, letterbox into the ring, then draw, record and log results."""
