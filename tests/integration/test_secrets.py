"""Secrets from SSM Parameter Store (the emulator's, over HTTP), as functions read them."""

from __future__ import annotations

import time

import pytest

from helpers import emulator_client, unique
from shop import config
from shop_local.platform import LocalPlatform


def test_a_rotated_secret_is_in_use_once_its_max_age_has_passed(
    platform: LocalPlatform, monkeypatch: pytest.MonkeyPatch
) -> None:
    ssm = emulator_client(platform, "ssm")
    name = f"/shop/test/{unique('rotating')}"
    ssm.put_parameter(Name=name, Value="first", Type="SecureString")
    monkeypatch.setenv("ROTATING_SECRET_PARAMETER", name)
    monkeypatch.setenv("SECRET_MAX_AGE_SECONDS", "1")
    assert config.secret("ROTATING_SECRET_PARAMETER") == "first"
    ssm.put_parameter(Name=name, Value="second", Type="SecureString", Overwrite=True)
    assert config.secret("ROTATING_SECRET_PARAMETER") == "first"  # kept, not read per call
    time.sleep(1.2)
    assert config.secret("ROTATING_SECRET_PARAMETER") == "second"  # no redeploy, no restart
