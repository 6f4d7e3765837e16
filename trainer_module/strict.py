"""The base of every spec: unknown keys are errors, objects are frozen, and
each goes to and from JSON (how components receive their piece)."""

from __future__ import annotations

import json
from typing import Annotated, TypeVar

from pydantic import BaseModel, ConfigDict, Field

PositiveInt = Annotated[int, Field(gt=0)]
_Spec = TypeVar("_Spec", bound="Strict")


class Strict(BaseModel):
    """Unknown keys are errors; validated objects do not change."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    def to_json(self) -> str:
        return json.dumps(self.model_dump(mode="json"), sort_keys=True)

    @classmethod
    def from_json(cls: type[_Spec], text: str) -> _Spec:
        return cls.model_validate(json.loads(text))
