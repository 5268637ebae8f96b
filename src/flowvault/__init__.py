"""flowvault: workflow automation whose credentials live in one encrypted, workspace-scoped store."""

__version__ = "0.1.0"
