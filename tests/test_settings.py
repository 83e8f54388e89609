"""Settings: precedence, validation with one clear line, and every setting documented."""
from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from bot.settings import SETTINGS, Settings, SettingsError, env_name, load_settings, validate_settings

README = (Path(__file__).parent.parent / "README.md").read_text("utf-8")


def test_environment_overrides_file_and_flags_override_both(tmp_path):
    config = tmp_path / "gigdesk.toml"
    config.write_text('port = 9000\nunion_name = "市总工会"\nwechat_token = "from-file"\n', "utf-8")
    s = load_settings(config, environ={"WECHAT_TOKEN": "from-env", "GIGDESK_PORT": "9100"}, host="0.0.0.0")
    assert (s.wechat_token, s.port, s.union_name, s.host) == ("from-env", 9100, "市总工会", "0.0.0.0")


def test_unknown_key_in_file_is_named(tmp_path):
    config = tmp_path / "gigdesk.toml"
    config.write_text("prot = 1\n", "utf-8")
    with pytest.raises(SettingsError, match="prot"):
        load_settings(config, environ={})


@pytest.mark.parametrize("settings, message", [
    (Settings(), "WECHAT_TOKEN"),
    (Settings(wechat_token="t", wechat_aes_key="x" * 42), "43"),
    (Settings(wechat_token="t", wechat_aes_key="!" * 43), "EncodingAESKey"),
    (Settings(wechat_token="t"), "WECHAT_APPID"),
])
def test_missing_or_invalid_secret_is_one_clear_line(settings, message):
    with pytest.raises(SettingsError) as info:
        validate_settings(settings)
    assert message in str(info.value) and "\n" not in str(info.value)


def test_demo_mode_needs_no_credentials():
    s = load_settings(environ={}, demo=True)
    validate_settings(s)
    assert s.wechat_token == "gigdesk-demo"


def test_secrets_stay_out_of_repr():
    assert "hunter2" not in repr(Settings(wechat_secret="hunter2", wechat_token="hunter2"))


@pytest.mark.parametrize("name", list(SETTINGS))
def test_every_setting_is_documented_in_the_readme(name):
    assert f"`{env_name(name)}`" in README, f"README's settings table lacks {env_name(name)}"
    assert f"`{name}`" in README


def test_settings_fields_all_have_help():
    assert all(f.metadata.get("help") for f in dataclasses.fields(Settings))


def test_every_api_route_is_documented_in_the_readme(tmp_path):
    from bot.app import create_app
    app = create_app(Settings(wechat_token="t", data_dir=str(tmp_path)))
    documented = set()
    for route in app.router.routes():
        path = route.resource.get_info().get("path") or route.resource.get_info().get("formatter") or ""
        if path.startswith("/api/") and route.method != "HEAD":
            documented.add(f"`{route.method} {path}")
    missing = [r for r in documented if r not in README]
    assert documented and not missing, f"README's API table lacks {missing}"
