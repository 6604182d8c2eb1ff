"""The supervisor: starts, watches and restarts the site's processes."""
