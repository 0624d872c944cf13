"""Source kinds: one module per kind, registered here by its ``KIND``.

Adding a kind is one module in this package plus one entry in ``_MODULES``.
"""

from __future__ import annotations

from types import ModuleType

from adapters import facebook
from adapters import form
from adapters import google_ads
from adapters import typeform
from adapters import webhook

__all__ = ["KINDS", "get_adapter"]

_MODULES: tuple[ModuleType, ...] = (facebook, form, google_ads, typeform, webhook)

KINDS: dict[str, ModuleType] = {module.KIND: module for module in _MODULES}


def get_adapter(kind: str) -> ModuleType | None:
    """The adapter module for ``kind``, or None when no such kind exists."""
    return KINDS.get(kind)
