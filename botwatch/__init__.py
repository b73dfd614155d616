"""botwatch: monitor and maintain fleets of chat bots."""

from __future__ import annotations

__all__ = ["__version__"]

__version__ = "0.1.0"
