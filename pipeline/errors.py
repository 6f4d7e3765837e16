"""What a `multihead` command can fail with, each error type with its exit code.

Handlers raise these; `pipeline.cli.main` prints the message and returns the
code, in one place. Exit codes: 0 done (pushed or not), 1 a component, a
Kubeflow host or a followed Kubeflow run failed, 2 bad config or data (or a
run whose records are gone), 3 another run holds the home, 4 stopped
following a Kubeflow run at its --timeout, 130 following stopped by Ctrl-C
(the run itself goes on).
"""

from __future__ import annotations


class CommandError(Exception):
    """Base of the errors a command reports in one message and an exit code."""

    exit_code = 1


class ConfigError(CommandError, ValueError):
    """A configuration that cannot be used, with every problem found named."""

    exit_code = 2


class DataError(CommandError, ValueError):
    """The data folder cannot feed this config."""

    exit_code = 2


class UsageError(CommandError, ValueError):
    """A command-line option that cannot be used as given."""

    exit_code = 2


class ReportError(CommandError, ValueError):
    """A run's report cannot be written: its summary or an artifact it names
    is missing or unreadable."""

    exit_code = 2


class ComponentFailed(CommandError):
    """A pipeline component failed; the message names it and the log file."""

    exit_code = 1


class LockBusy(CommandError, RuntimeError):
    """Another run holds the home's lock."""

    exit_code = 3


class HostError(CommandError, RuntimeError):
    """Kubeflow Pipelines could not be reached or refused the request."""

    exit_code = 1


class RunFailed(HostError):
    """A followed Kubeflow run ended in a state other than succeeded."""

    exit_code = 1


class FollowTimeout(CommandError):
    """--timeout passed before the followed run ended; the run goes on."""

    exit_code = 4


class FollowStopped(CommandError):
    """Ctrl-C stopped following a run; the run goes on."""

    exit_code = 130
