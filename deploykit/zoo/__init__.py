"""Model registry: deploykit's own architectures and every torchvision classifier.

Architectures torchvision lacks live here, one module per family, each factory
marked with :func:`register_model`. The registry is built on first use by
scanning the family modules listed in ``FAMILY_MODULES``; nothing is filled as
a side effect of importing this package.
"""

from deploykit.registry import (
    FAMILY_MODULES,
    SEED_ARCHITECTURES,
    ModelEntry,
    create_model,
    get_entry,
    list_models,
    register_model,
)

__all__ = [
    "FAMILY_MODULES",
    "SEED_ARCHITECTURES",
    "ModelEntry",
    "create_model",
    "get_entry",
    "list_models",
    "register_model",
]
