"""Dagster config built from the dataclasses that hold settings, so the Launchpad shows every field.

Hyper-parameters and service settings are plain dataclasses in ``core`` / ``services`` (usable from
a notebook); their Dagster ``Config`` twin is derived here instead of being written twice.
"""

from __future__ import annotations

import dataclasses
import typing
from collections.abc import Mapping
from typing import Any

import dagster as dg
import pydantic


def config_for(
    settings_cls: type,
    name: str,
    extra: Mapping[str, tuple[type, object]] | None = None,
    defaults: Mapping[str, object] | None = None,
) -> type[dg.Config]:
    """A ``dg.Config`` mirroring a settings dataclass (``defaults`` override its defaults)."""
    hints = typing.get_type_hints(settings_cls)
    fields: dict[str, tuple[type, object]] = {
        f.name: (hints[f.name], (defaults or {}).get(f.name, f.default))
        for f in dataclasses.fields(settings_cls)
    }
    fields.update(extra or {})
    return pydantic.create_model(name, __base__=dg.Config, __doc__=settings_cls.__doc__, **fields)


def settings_from_config(settings_cls: type, config: dg.Config, **overrides: object) -> Any:
    """The settings dataclass back from its config (fields the dataclass lacks are left out;
    ``overrides`` replace config values, e.g. an ``auto`` resolved at run time)."""
    names = {f.name for f in dataclasses.fields(settings_cls)}
    values = {k: v for k, v in config.model_dump().items() if k in names}
    return settings_cls(**{**values, **overrides})
