"""What each task of the compiled Kubeflow pipeline asks of its node: the
config's `kubeflow.resources`, by component name.

    kubeflow:
      resources:
        MultiHeadTrainer: {cpu: 4, memory: 16, memory_limit: 24}
        Transform: {cpu: 2, memory: 8}

`cpu` and `memory` are the requests (cores, GB), `cpu_limit` and
`memory_limit` the limits; they land in the IR as the task's executor
`container.resources` (`cpuRequest`, `memoryRequest`, `cpuLimit`,
`memoryLimit`: kubeflow/compile.py), which the KFP backend turns into the
pod's requests and limits. The local runner ignores them.
"""

from __future__ import annotations

from pydantic import Field, model_validator

from trainer_module.strict import Strict

__all__ = ["Kubeflow", "Resources"]


class Resources(Strict):
    cpu: float | None = Field(None, gt=0)
    memory: float | None = Field(None, gt=0)  # GB
    cpu_limit: float | None = Field(None, gt=0)
    memory_limit: float | None = Field(None, gt=0)  # GB

    @model_validator(mode="after")
    def _requests_within_limits(self) -> Resources:
        for request, limit in (("cpu", "cpu_limit"), ("memory", "memory_limit")):
            low, high = getattr(self, request), getattr(self, limit)
            if low is not None and high is not None and low > high:
                raise ValueError(f"{request} {low:g} is more than {limit} {high:g}")
        if all(value is None for value in self.model_dump().values()):
            raise ValueError("give at least one of cpu, memory, cpu_limit, memory_limit")
        return self

    def ir_fields(self) -> dict[str, float]:
        """The IR's ResourceSpec fields (JSON names) this sets."""
        names = {
            "cpu": "cpuRequest",
            "memory": "memoryRequest",
            "cpu_limit": "cpuLimit",
            "memory_limit": "memoryLimit",
        }
        return {names[k]: v for k, v in self.model_dump().items() if v is not None}


class Kubeflow(Strict):
    """Kubeflow-only settings of the pipeline (what `multihead compile` writes)."""

    resources: dict[str, Resources] = {}
