"""``${VAR}`` and ``${VAR:-default}`` substitution from the environment."""

from __future__ import annotations

__all__ = ["MissingVariable", "interpolate"]

import re
from collections.abc import Mapping

# $$ escapes a literal dollar sign, as in docker-compose.
_PATTERN = re.compile(r"\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?-)([^}]*))?\}")


class MissingVariable(ValueError):
    """A ``${VAR}`` without a default names a variable that is not set."""

    def __init__(self, name: str) -> None:
        self.name = name
        super().__init__(
            f"environment variable {name} is not set "
            f"(set it, or give a default: ${{{name}:-value}})"
        )


def interpolate(text: str, env: Mapping[str, str]) -> str:
    """Replace every ``${VAR}`` / ``${VAR:-default}`` / ``${VAR-default}`` in ``text``.

    ``:-`` uses the default when the variable is unset *or empty*; ``-`` only when unset,
    following the shell.
    """

    def sub(m: re.Match[str]) -> str:
        if m.group(0) == "$$":
            return "$"
        name, op, default = m.group(1), m.group(2), m.group(3)
        value = env.get(name)
        if op == ":-" and not value:
            return default or ""
        if op == "-" and value is None:
            return default or ""
        if value is None:
            raise MissingVariable(name)
        return value

    return _PATTERN.sub(sub, text)
