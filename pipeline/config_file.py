"""Loading a config file: YAML in, a validated PipelineConfig out, or one
error that names every field that is wrong, its value and what was expected."""

from __future__ import annotations

import os
from typing import Any

import yaml
from pydantic import ValidationError

from pipeline.config import PipelineConfig
from pipeline.errors import ConfigError
from trainer_module.derived import SpecError, resolve_function

CONFIG_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "configs")
DEFAULT_CONFIG = os.path.join(CONFIG_DIR, "taxi.yaml")
RETRAIN_CONFIG = os.path.join(CONFIG_DIR, "taxi_retrain.yaml")
TAXI_CSV = os.path.join(os.path.dirname(CONFIG_DIR), "data", "taxi", "data.csv")


def _format_errors(error: ValidationError) -> str:
    lines = []
    for item in error.errors():
        where = ".".join(str(p) for p in item["loc"]) or "(top level)"
        message = item["msg"].removeprefix("Value error, ")
        value = item.get("input")
        shown = "" if isinstance(value, dict | list) else f" (got {value!r})"
        lines.append(f"  {where}: {message}{shown}")
    return "\n".join(lines)


def parse_config(data: Any, source: str = "<config>", base_dir: str = "") -> PipelineConfig:
    """Validates a config given as parsed YAML/JSON data.

    Raises:
      ConfigError: naming every field that is wrong, its value and what was
        expected.
    """
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: expected a mapping at the top level")
    try:
        config = PipelineConfig.model_validate({**data, "base_dir": base_dir})
    except ValidationError as error:
        raise ConfigError(f"{source} is not a valid config:\n{_format_errors(error)}") from None
    for column in config.derived:
        try:
            resolve_function(column.function)
        except SpecError as error:
            raise ConfigError(f"{source}: derived.{column.name}: {error}") from None
    return config


def load_config(path: str = DEFAULT_CONFIG) -> PipelineConfig:
    """Loads and validates a YAML config file."""
    try:
        with open(path) as f:
            data = yaml.safe_load(f)
    except FileNotFoundError:
        raise ConfigError(f"config file not found: {path}") from None
    except yaml.YAMLError as error:
        raise ConfigError(f"{path} is not valid YAML: {error}") from None
    return parse_config(data, source=path, base_dir=os.path.dirname(os.path.abspath(path)))
