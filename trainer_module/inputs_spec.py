"""The model's inputs in the spec: features the shared transform computes
and derived columns computed from raw columns (no TensorFlow)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from trainer_module.strict import PositiveInt, Strict

COLUMN_RE = r"^[A-Za-z_][A-Za-z0-9_]*$"


class Feature(Strict):
    """One model input computed by the shared transform.

    numeric: NaN and infinite values are missing; values are clipped to the
    clip_quantile and 1 - clip_quantile quantiles of the training values
    (0 turns clipping off); missing values are filled (the mean of the
    clipped values by default), then z-scored.
    categorical: vocabulary of the training split (top_k most frequent),
    plus num_oov_buckets for unseen values; missing values are a category.
    With hash_buckets, values are hashed into that many buckets instead: no
    vocabulary, so the encoding stays the same from one data span to the
    next (what warm starts across spans need).
    bucketized: missing and clipped like numeric, then quantile buckets.
    """

    name: str = Field(pattern=COLUMN_RE)
    type: Literal["numeric", "categorical", "bucketized"]
    fill: Literal["mean"] | float = "mean"
    top_k: PositiveInt | None = None
    num_oov_buckets: int = Field(1, ge=0)
    num_buckets: int = Field(10, ge=2)
    hash_buckets: PositiveInt | None = None
    clip_quantile: float = Field(0.001, ge=0, le=0.1)

    @model_validator(mode="after")
    def _check(self) -> Feature:
        if self.hash_buckets is not None:
            if self.type != "categorical":
                raise ValueError("'hash_buckets' is for categorical features")
            if self.top_k is not None:
                raise ValueError("give 'top_k' (vocabulary) or 'hash_buckets', not both")
        return self


class DerivedColumn(Strict):
    """A column computed from raw columns by a user function.

    The function receives a dict of the listed raw columns as dense rank-1
    tensors (numeric columns as float32 with NaN where missing, string
    columns with '' where missing) and returns a rank-1 tensor.
    """

    name: str = Field(pattern=COLUMN_RE)
    function: str = Field(pattern=r"^[A-Za-z_][\w.]*\.[A-Za-z_]\w*$")
    inputs: list[str] = Field(min_length=1)
    dtype: Literal["float", "string"] = "float"
