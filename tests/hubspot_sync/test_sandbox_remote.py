import pytest

from hubspot_sync.sandbox.remote import SandboxControl


def test_it_edits_archives_and_plants_through_a_running_sandbox(hubspot):
    control = SandboxControl(hubspot.url, "sandbox-token")
    planted = control.plant("deals", {"dealname": "By hand", "amount": "5"})

    edited = control.edit("deals", planted["id"], {"amount": "7"}, user_id=42)
    archived = control.archive("deals", planted["id"])

    assert edited["properties"]["amount"] == "7"
    assert archived["archived"] is True
    assert hubspot.store.count("deals") == 0


@pytest.mark.parametrize(
    "url", ["http://10.0.0.5:8025", "https://api.hubapi.com", "http://example.com"]
)
def test_it_refuses_anything_but_this_machine(url):
    with pytest.raises(ValueError, match="this machine only"):
        SandboxControl(url, "sandbox-token")


def test_it_ignores_proxy_settings_from_the_environment(hubspot, monkeypatch):
    # A proxy nobody listens on: were it used, the call would fail.
    monkeypatch.setenv("http_proxy", "http://127.0.0.1:9")
    monkeypatch.delenv("no_proxy", raising=False)
    monkeypatch.delenv("NO_PROXY", raising=False)

    planted = SandboxControl(hubspot.url, "sandbox-token").plant(
        "deals", {"dealname": "Direct", "amount": "1"}
    )

    assert planted["properties"]["dealname"] == "Direct"


def test_it_sets_the_sandboxs_import_processing_time(hubspot):
    answer = SandboxControl(hubspot.url, "sandbox-token").configure_imports(5)

    assert answer == {"processing_seconds": 5.0}
