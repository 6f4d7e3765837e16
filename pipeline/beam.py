"""Where the pipeline's Beam steps run: the config's `beam` section.

ExampleGen, StatisticsGen, Transform, the evaluator and batch scoring are
Beam jobs. `runner` names where they run, and `pipeline_args()` turns the
choice into the Beam options every one of those components receives (on
the local runner and in the compiled Kubeflow pipeline alike):

- `local` (default): Beam's DirectRunner in this process, one worker. The
  fastest on 2 cores up to 1.5M rows (docs/benchmarks.md).
- `multiprocess`: the DirectRunner with `workers` worker processes (default:
  the machine's cores). Each Beam step runs in processes that did not build
  the pipeline, as on Dataflow or Flink: what a worker cannot unpickle or
  import fails here first.
- `dataflow`: Google Cloud Dataflow, with `project`, `region`,
  `temp_location` (gs://), at most `workers` workers, and the image the
  workers run (`container_image`: one with this project installed and
  Beam's worker entry point; see README, Kubeflow).

`args` adds Beam options the fields do not cover (`--experiments=...`,
`--network=...`); an option that a field sets is refused there, so one fact
has one place.
"""

from __future__ import annotations

from typing import Literal

from pydantic import model_validator

from trainer_module.strict import PositiveInt, Strict

__all__ = ["Beam"]

# The options a field of the section sets, by the field.
_SET_BY = {
    "runner": ("--runner", "--direct_running_mode"),
    "workers": ("--direct_num_workers", "--max_num_workers", "--num_workers"),
    "project": ("--project",),
    "region": ("--region",),
    "temp_location": ("--temp_location",),
    "container_image": ("--sdk_container_image",),
    "machine_type": ("--machine_type", "--worker_machine_type"),
}
_DATAFLOW_ONLY = ("project", "region", "temp_location", "container_image", "machine_type")


class Beam(Strict):
    """Where the Beam steps run (see the module's docstring)."""

    runner: Literal["local", "multiprocess", "dataflow"] = "local"
    workers: PositiveInt | None = None
    project: str | None = None
    region: str | None = None
    temp_location: str | None = None
    container_image: str | None = None
    machine_type: str | None = None
    args: list[str] = []

    @model_validator(mode="after")
    def _fields_of_the_runner(self) -> Beam:
        given = [name for name in _DATAFLOW_ONLY if getattr(self, name) is not None]
        if self.runner != "dataflow" and given:
            raise ValueError(f"beam.{given[0]} is for runner dataflow (runner is {self.runner!r})")
        if self.runner == "local" and self.workers is not None:
            raise ValueError(
                "beam.workers is for runner multiprocess or dataflow (runner local is one "
                "worker in the pipeline's process)"
            )
        if self.runner == "dataflow":
            missing = [n for n in ("project", "region", "temp_location") if not getattr(self, n)]
            if missing:
                raise ValueError(f"runner dataflow needs beam.{', beam.'.join(missing)}")
            if not str(self.temp_location).startswith("gs://"):
                raise ValueError(
                    f"beam.temp_location must be a gs:// folder for Dataflow, got "
                    f"{self.temp_location!r}"
                )
        for arg in self.args:
            option = arg.split("=", 1)[0]
            for field, options in _SET_BY.items():
                if option in options:
                    raise ValueError(
                        f"beam.args sets {option}, which beam.{field} sets: give it there"
                    )
        return self

    def pipeline_args(self) -> list[str]:
        """The Beam options of this choice, `args` last."""
        if self.runner == "multiprocess":
            # 0: the DirectRunner starts one worker per core of the machine it runs on.
            options = [
                "--direct_running_mode=multi_processing",
                f"--direct_num_workers={self.workers or 0}",
            ]
        elif self.runner == "dataflow":
            options = [
                "--runner=DataflowRunner",
                f"--project={self.project}",
                f"--region={self.region}",
                f"--temp_location={self.temp_location}",
            ]
            if self.workers:
                options.append(f"--max_num_workers={self.workers}")
            if self.machine_type:
                options.append(f"--machine_type={self.machine_type}")
            if self.container_image:
                options.append(f"--sdk_container_image={self.container_image}")
        else:
            options = []
        return options + list(self.args)

    @property
    def chosen(self) -> bool:
        """The section says anything (else the defaults: local, no options)."""
        return self != Beam()
