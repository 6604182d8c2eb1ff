"""The base of every configuration model: frozen, and no key it does not know.

Its own module so that every section (sites, compliance, events, evidence) can use it
without importing the site model that gathers them.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
