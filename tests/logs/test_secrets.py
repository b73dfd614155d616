"""Secrets in logs are found, counted and never shown in full."""

from __future__ import annotations

import io

from botwatch.logs.secrets import scan_secrets

TOKEN = "5723194461:AAHk9dX2pQ_vB7yZ3mN8rT1sU4wE6fG0hJ2"
SECRETS = {
    "telegram_token": TOKEN,
    "discord_token": "MTA4NTI3NzM2NDk1MjY3NjU0NQ.GhT2xY.abcdefghijklmnopqrstuvwxyz012345",
    "aws_access_key": "AKIAIOSFODNN7EXAMPLE",
    "github_token": "ghp_abcdefghijklmnopqrstuvwxyz0123456789",
    "openai_key": "sk-proj-abcdefghijklmnopqrstuvwx",
    "password_in_url": "postgresql://bot:hunter2secret@db.internal:5432",
    "password_field": "password=Sup3rS3cret!",
}
HIDDEN = ("hk9dX2pQ_vB7yZ3mN8rT1sU4wE6fG0", "hunter2secret", "Sup3rS3cret", "IOSFODNN7EXAMP",
          "abcdefghijklmnopqrstuvwxyz0123456")  # fmt: skip


def test_every_kind_is_found_once_per_value_and_redacted() -> None:
    lines = [
        f"2026-11-30 08:00:0{i} - bot - INFO - using {v}" for i, v in enumerate(SECRETS.values())
    ]
    lines += [f"2026-11-30 08:01:00 - bot - INFO - again {TOKEN}",
              "harmless: 12345678:short, password=****, sk-1"]  # fmt: skip
    scan = scan_secrets(io.BytesIO("\n".join(lines).encode()))
    assert scan.lines == len(lines)
    assert [f.kind for f in scan.findings] == list(SECRETS)
    assert [f.first_line for f in scan.findings] == list(range(1, len(SECRETS) + 1))
    assert scan.findings[0].count == 2 and scan.findings[0].redacted == "5723194461:AA…J2"
    shown = " ".join(f.redacted for f in scan.findings)
    for secret in HIDDEN:
        assert secret not in shown
