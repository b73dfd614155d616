"""Notification channels (one module per kind, behind a registry) and the outbox."""

from __future__ import annotations

__all__ = ["CHANNELS", "Channel", "Notification", "build_channel", "channel_acks"]

# Importing the kinds registers them.
from botwatch.channels import apprise_channel, pagerduty, webhook  # noqa: F401
from botwatch.channels.base import CHANNELS, Channel, build_channel, channel_acks
from botwatch.channels.message import Notification
