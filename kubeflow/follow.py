"""Following a Kubeflow Pipelines run to its end (`submit --wait`, `follow`).

One line per task as its state changes, then the run's final state. A run
that succeeded returns; a failed one raises RunFailed naming the task that
failed and where its logs are; `timeout` raises FollowTimeout and Ctrl-C
FollowStopped, neither of which touches the run itself.
"""

from __future__ import annotations

import re
import sys
import time
from collections.abc import Callable
from typing import TextIO

from kubeflow.connection import Connection
from kubeflow.host import HostUnreachable, KubeflowError, call
from pipeline.errors import FollowStopped, FollowTimeout, RunFailed, UsageError

# v2beta1 RuntimeState -> what the terminal says. KFP and Vertex mark a
# task served from the cache as SKIPPED.
LABELS = {
    "RUNTIME_STATE_UNSPECIFIED": "pending",
    "PENDING": "pending",
    "RUNNING": "running",
    "SUCCEEDED": "succeeded",
    "SKIPPED": "cached",
    "FAILED": "failed",
    "CANCELING": "canceling",
    "CANCELED": "canceled",
    "PAUSED": "paused",
}
FINAL = {"SUCCEEDED", "SKIPPED", "FAILED", "CANCELED"}
# Consecutive polls that may fail to reach the host before following stops.
UNREACHABLE_POLLS = 3
_DURATION = re.compile(r"^([0-9]+(?:\.[0-9]+)?)([smh]?)$")


def parse_duration(text: str) -> float:
    """'600', '90s', '45m', '2h' -> seconds; raises UsageError otherwise."""
    match = _DURATION.match(text.strip())
    if not match or float(match.group(1)) <= 0:
        raise UsageError(f"--timeout {text!r}: give seconds, or a number with s, m or h (45m)")
    return float(match.group(1)) * {"": 1, "s": 1, "m": 60, "h": 3600}[match.group(2)]


def _clock(seconds: float) -> str:
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def _state(value) -> str:
    return str(value or "RUNTIME_STATE_UNSPECIFIED")


def _pods(task) -> list[str]:
    pods = [task.pod_name] if getattr(task, "pod_name", None) else []
    pods += [c.pod_name for c in (getattr(task, "child_tasks", None) or []) if c.pod_name]
    return pods


def spec_tasks(spec: dict | None) -> set[str] | None:
    """The task names of a compiled PipelineSpec (dict), or None if unknown."""
    if not isinstance(spec, dict):
        return None
    spec = spec.get("pipeline_spec", spec)
    tasks = spec.get("root", {}).get("dag", {}).get("tasks")
    return set(tasks) if tasks else None


class Follower:
    """Polls one run and prints what changed; `run()` returns its final state."""

    def __init__(
        self,
        client,
        connection: Connection,
        run_id: str,
        timeout: float | None = None,
        poll: float = 10.0,
        tasks: set[str] | None = None,
        out: TextIO | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ):
        self.client = client
        self.connection = connection
        self.run_id = run_id
        self.timeout = timeout
        self.poll = poll
        self.tasks = tasks
        self.out = out or sys.stdout
        self.clock = clock
        self.sleep = sleep
        self.seen: dict[str, str] = {}
        self.run_state: str | None = None

    def say(self, elapsed: float, text: str) -> None:
        print(f"{_clock(elapsed):>8}  {text}", file=self.out, flush=True)

    def _again(self) -> str:
        return (
            f"follow it again with: multihead follow {self.run_id} --host {self.connection.host}"
            + (f" --namespace {self.connection.namespace}" if self.connection.namespace else "")
        )

    def _known_tasks(self, run) -> set[str] | None:
        """The pipeline's own task names, to leave out KFP's driver tasks."""
        if self.tasks is not None:
            return self.tasks
        found = spec_tasks(getattr(run, "pipeline_spec", None))
        reference = getattr(run, "pipeline_version_reference", None)
        if found is None and reference is not None and reference.pipeline_version_id:
            try:
                version = call(
                    self.connection,
                    "reading the pipeline version",
                    self.client.get_pipeline_version,
                    reference.pipeline_id,
                    reference.pipeline_version_id,
                )
                found = spec_tasks(version.pipeline_spec)
            except KubeflowError:
                found = None
        self.tasks = found if found is not None else set()
        return self.tasks

    def _report(self, run, elapsed: float) -> None:
        known = self._known_tasks(run)
        details = getattr(run, "run_details", None)
        for task in getattr(details, "task_details", None) or []:
            name = task.display_name or task.task_id
            if known and name not in known:
                continue
            state = _state(task.state)
            if self.seen.get(name) != state:
                self.seen[name] = state
                self.say(elapsed, f"{name}: {LABELS.get(state, state.lower())}")
        state = _state(run.state)
        if state != self.run_state:
            self.run_state = state
            if state not in FINAL:
                self.say(elapsed, f"run {self.run_id}: {LABELS.get(state, state.lower())}")

    def _failure(self, run) -> str:
        label = LABELS.get(self.run_state, self.run_state.lower())
        lines = [f"run {self.run_id} {label}"]
        details = getattr(run, "run_details", None)
        failed = [t for t in (getattr(details, "task_details", None) or []) if t.state == "FAILED"]
        known = self.tasks or set()
        failed.sort(key=lambda t: (bool(known) and t.display_name not in known, str(t.end_time)))
        if failed:
            task = failed[0]
            message = getattr(task.error, "message", None) if task.error else None
            lines.append(
                f": task {task.display_name} failed" + (f" ({message})" if message else "")
            )
            pods = _pods(task)
            if pods:
                namespace = self.connection.namespace or "kubeflow"
                lines.append(f"; logs: kubectl logs -n {namespace} {pods[0]} -c main")
        elif run.error and run.error.message:
            lines.append(f": {run.error.message}")
        lines.append(f"; details: {self.connection.run_url(self.run_id)}")
        return "".join(lines)

    def run(self) -> str:
        """Follows to the end; returns 'SUCCEEDED' or raises (see the module doc)."""
        start = self.clock()
        print(
            f"following run {self.run_id} (Ctrl-C stops following; the run goes on)",
            file=self.out,
            flush=True,
        )
        unreachable = 0
        try:
            while True:
                elapsed = self.clock() - start
                try:
                    run = call(self.connection, "reading the run", self.client.get_run, self.run_id)
                    unreachable = 0
                except HostUnreachable as error:
                    unreachable += 1
                    if unreachable >= UNREACHABLE_POLLS:
                        raise
                    self.say(elapsed, f"note: {error}; trying again")
                else:
                    self._report(run, elapsed)
                    if self.run_state in FINAL:
                        if self.run_state in ("SUCCEEDED", "SKIPPED"):
                            self.say(
                                elapsed, f"run {self.run_id} succeeded after {_clock(elapsed)}"
                            )
                            return "SUCCEEDED"
                        raise RunFailed(self._failure(run))
                waited = self.clock() - start
                if self.timeout is not None and waited >= self.timeout:
                    state = LABELS.get(self.run_state or "", "pending")
                    raise FollowTimeout(
                        f"stopped following run {self.run_id} after {_clock(self.timeout)} "
                        f"(--timeout): it is still {state}, not cancelled; {self._again()}"
                    )
                left = self.poll if self.timeout is None else self.timeout - waited
                self.sleep(min(self.poll, left))
        except KeyboardInterrupt:
            raise FollowStopped(
                f"stopped following run {self.run_id}; the run goes on (not cancelled); "
                f"{self._again()}"
            ) from None
