"""Loading ``botwatch.yml``: read, interpolate, validate, resolve paths, redact."""

from __future__ import annotations

__all__ = [
    "DEFAULT_CONFIG",
    "LoadedConfig",
    "load_config",
    "parse_config",
    "read_text_file",
    "redacted",
    "validate_located",
]

import difflib
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, SecretStr, ValidationError

from botwatch.config.models import Config
from botwatch.config.yamlsource import Located, dotted, load_yaml
from botwatch.errors import ConfigError, ConfigIssue

DEFAULT_CONFIG = "botwatch.yml"


@dataclass(frozen=True)
class LoadedConfig:
    """A validated config and where it came from; relative paths resolve against ``base``."""

    config: Config
    path: Path
    base: Path

    def resolve(self, path: str) -> Path:
        """A path from the config, made absolute relative to the config file's folder."""
        p = Path(os.path.expanduser(path))
        return p if p.is_absolute() else (self.base / p)

    @property
    def storage_url(self) -> str:
        """The store URL, with a relative SQLite path resolved against the config folder."""
        url = self.config.storage
        prefix = "sqlite:///"
        if url.startswith(prefix) and not url[len(prefix) :].startswith("/"):
            return prefix + str(self.resolve(url[len(prefix) :]))
        return url


def _model_for(
    path: tuple[str | int, ...], root: type[BaseModel] = Config
) -> type[BaseModel] | None:
    """The pydantic model that sits at ``path`` under ``root``, to suggest its keys."""
    model: Any = root
    for part in path:
        if isinstance(model, type) and issubclass(model, BaseModel):
            if isinstance(part, int):
                continue  # an item of a list of models (``_unwrap`` already stepped in)
            field = model.model_fields.get(part)
            if field is None:
                return None
            model = _unwrap(field.annotation)
        else:
            # Inside a dict or list: step to its value type.
            args = getattr(model, "__args__", ())
            if not args:
                return None
            model = _unwrap(args[-1])
    return model if isinstance(model, type) and issubclass(model, BaseModel) else None


def _unwrap(annotation: Any) -> Any:
    """Strip ``X | None`` so the model type itself is left."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    args = [a for a in getattr(annotation, "__args__", ()) if a is not type(None)]
    if len(args) == 1 and isinstance(args[0], type) and issubclass(args[0], BaseModel):
        return args[0]
    return annotation


def _describe(err: Mapping[str, Any], src: Located, root: type[BaseModel] = Config) -> ConfigIssue:
    loc = tuple(err["loc"])
    kind = err["type"]
    # Errors from "before" validators on unions add the model name to loc; drop it.
    loc = tuple(p for p in loc if not (isinstance(p, str) and (p[:1].isupper() or p == "[key]")))
    if kind == "extra_forbidden":
        parent = _model_for(loc[:-1], root)
        key = str(loc[-1])
        msg = f"unknown key {key!r}"
        if parent is not None:
            close = difflib.get_close_matches(key, list(parent.model_fields), n=1, cutoff=0.6)
            if close:
                msg += f"; did you mean {close[0]!r}?"
            else:
                msg += f"; expected one of: {', '.join(parent.model_fields)}"
        return ConfigIssue(src.file, src.line_of(loc), dotted(loc), msg)
    msg = str(err["msg"])
    if msg.startswith("Value error, "):
        msg = msg[len("Value error, ") :]
    if kind == "missing":
        msg = "this key is required"
    elif "input" in err and kind not in ("value_error", "assertion_error"):
        shown = err["input"]
        if isinstance(shown, str | int | float | bool) or shown is None:
            msg += f" (got {shown!r})"
    return ConfigIssue(src.file, src.line_of(loc), dotted(loc), msg)


def parse_config(
    text: str, file: str = DEFAULT_CONFIG, env: Mapping[str, str] | None = None
) -> Config:
    """Validate config ``text``; ``file`` is only used in error messages."""
    src = load_yaml(text, file, os.environ if env is None else env)
    if not isinstance(src.data, dict):
        raise ConfigError([ConfigIssue(file, 1, "", "the config must be a mapping of keys")])
    return validate_located(Config, src)


M = TypeVar("M", bound=BaseModel)


def validate_located(model: type[M], src: Located, context: Any = None) -> M:
    """Validate YAML data ``src`` as ``model``; errors name the file, line and key.

    Used for every YAML file botwatch reads (the config, rule files, rule tests).
    """
    try:
        return model.model_validate(src.data, context=context)
    except ValidationError as e:
        issues = [_describe(err, src, model) for err in e.errors()]
        issues.sort(key=lambda i: (i.line or 0, i.key))
        raise ConfigError(issues) from None


def read_text_file(path: Path, *, missing: str = "no such file") -> str:
    """The UTF-8 text of ``path``; ``ConfigError`` naming the file when it cannot be
    read (``missing`` is what to say when it does not exist)."""
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError([ConfigIssue(str(path), None, "", missing)]) from None
    except UnicodeDecodeError as e:
        raise ConfigError(
            [ConfigIssue(str(path), None, "", f"not UTF-8 text (byte {e.start})")]
        ) from None
    except OSError as e:
        raise ConfigError(
            [ConfigIssue(str(path), None, "", f"cannot read: {e.strerror}")]
        ) from None


def load_config(
    path: str | os.PathLike[str] = DEFAULT_CONFIG, env: Mapping[str, str] | None = None
) -> LoadedConfig:
    """Read and validate the config file at ``path``.

    Raises ``ConfigError`` naming the file, line and key of every problem.
    """
    p = Path(path)
    text = read_text_file(p, missing="no such file; create one with `botwatch init`")
    config = parse_config(text, str(p), env)
    return LoadedConfig(config, p.resolve(), p.resolve().parent)


_URL_PASSWORD = re.compile(
    r"(?P<scheme>[a-z][a-z0-9+.-]*://)(?P<user>[^:/@\s]*):(?P<pw>[^@/\s]+)@", re.I
)
_SECRET_QUERY = re.compile(
    r"(?P<k>(?:password|passwd|pwd|token|secret|key|apikey|api_key)=)[^&\s]+", re.I
)


def redact_text(text: str) -> str:
    """Hide passwords in URLs and secret-looking query parameters."""
    text = _URL_PASSWORD.sub(lambda m: f"{m['scheme']}{m['user']}:***@", text)
    return _SECRET_QUERY.sub(lambda m: f"{m['k']}***", text)


def redacted(config: Config) -> dict[str, Any]:
    """The config as plain data with every secret hidden, for printing."""

    def walk(v: Any) -> Any:
        if isinstance(v, SecretStr):
            return "***" if v.get_secret_value() else ""
        if isinstance(v, dict):
            return {
                k: ("***" if _secret_key(k) and isinstance(x, str) and x else walk(x))
                for k, x in v.items()
            }
        if isinstance(v, list):
            return [walk(x) for x in v]
        if isinstance(v, str):
            return redact_text(v)
        return v

    return dict(walk(config.model_dump(mode="python", exclude_defaults=False)))


def _secret_key(key: str) -> bool:
    k = key.lower()
    return any(word in k for word in ("token", "password", "secret", "api_key", "apikey"))
