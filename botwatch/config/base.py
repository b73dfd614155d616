"""The base of every config model: unknown keys are errors, values are frozen."""

from __future__ import annotations

__all__ = ["ConfigModel"]

from pydantic import BaseModel, ConfigDict


class ConfigModel(BaseModel):
    """Forbids unknown keys (a typo gets a did-you-mean, not silence); frozen."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)
