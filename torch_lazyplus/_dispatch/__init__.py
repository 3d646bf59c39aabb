"""Dispatcher-level debugging tools for lazyplus (in the spirit of ``torch._dispatch``)."""
from .python import enable_crossref_functionalize

__all__ = ["enable_crossref_functionalize"]
