"""One package per service: ``credentials.py`` declares its credential types (and ``node.py``
its node types)."""
