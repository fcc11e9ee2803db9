"""esoconf.adapter: each umbrella translation and default, named and checked on its own."""

from __future__ import annotations

import pytest

from esoconf.adapter import (
    BB_COMMON,
    HARDENED,
    LEGACY_HARDENED,
    Platform,
    addon_values,
    deep_merge,
    drop_legacy_istio_hardened,
    legacy_istio_hardened_custom_authorization_policies,
    legacy_istio_hardened_custom_service_entries,
    package_values,
    umbrella_upstream_podlabels,
    varied_by,
    vault_policy_layout,
)

POLICY = {"name": "allow-external-secrets", "enabled": True, "spec": {"action": "ALLOW"}}
VAULT_OVERRIDE = {"addons": {"vault": {"values": {"istio": {"hardened": {"customAuthorizationPolicies": [POLICY]}}}}}}


def test_deep_merge_merges_maps_and_replaces_lists() -> None:
    base = {"a": {"b": 1, "c": [1, 2]}, "d": 1}
    assert deep_merge(base, {"a": {"c": [3]}, "e": 2}) == {"a": {"b": 1, "c": [3]}, "d": 1, "e": 2}
    assert base == {"a": {"b": 1, "c": [1, 2]}, "d": 1}, "inputs are not modified"


def test_addon_values_picks_the_package_values_only() -> None:
    snippet = {"addons": {"externalSecrets": {"enabled": True, "values": {"x": 1}}}}
    assert addon_values(snippet, "external-secrets") == {"x": 1}
    assert addon_values(snippet, "vault") == {}


def test_custom_authorization_policies_move_to_authorization_policies_custom() -> None:
    values = {"istio": {"hardened": {"customAuthorizationPolicies": [POLICY], "enabled": True},
                        "authorizationPolicies": {"custom": [{"name": "existing"}]}}}
    moved, notes = legacy_istio_hardened_custom_authorization_policies(values)
    assert moved["istio"]["authorizationPolicies"]["custom"] == [{"name": "existing"}, POLICY]
    assert "customAuthorizationPolicies" not in moved["istio"]["hardened"]
    assert [n.translation for n in notes] == ["legacy_istio_hardened_custom_authorization_policies"]


def test_custom_service_entries_move_to_service_entries_custom() -> None:
    moved, notes = legacy_istio_hardened_custom_service_entries(
        {"istio": {"hardened": {"customServiceEntries": [{"name": "se"}]}}})
    assert moved["istio"]["serviceEntries"]["custom"] == [{"name": "se"}] and len(notes) == 1


def test_istio_hardened_is_dropped_for_vault() -> None:
    dropped, notes = drop_legacy_istio_hardened({"istio": {"hardened": {"enabled": True}, "enabled": True}})
    assert dropped == {"istio": {"enabled": True}} and notes[0].translation == "drop_legacy_istio_hardened"


@pytest.mark.parametrize("translation", [legacy_istio_hardened_custom_authorization_policies,
                                         legacy_istio_hardened_custom_service_entries, drop_legacy_istio_hardened])
def test_translations_leave_values_without_the_legacy_key_alone(translation) -> None:
    values = {"istio": {"enabled": True}}
    assert translation(values) == (values, [])


def test_package_level_podlabels_snippet_is_placed_under_the_addon() -> None:
    wrapped, notes = umbrella_upstream_podlabels({"upstream": {"podLabels": {"vault-ingress": "true"}}})
    assert addon_values(wrapped, "external-secrets") == {"upstream": {"podLabels": {"vault-ingress": "true"}}}
    assert notes[0].translation == "umbrella_upstream_podlabels"
    assert umbrella_upstream_podlabels(VAULT_OVERRIDE) == (VAULT_OVERRIDE, [])


def test_vault_values_through_the_umbrella() -> None:
    result = package_values("vault", [VAULT_OVERRIDE])
    assert result.values["istio"] == {"enabled": True, "sidecar": {"enabled": False},
                                      "authorizationPolicies": {"enabled": False, "generateFromNetpol": True,
                                                                "custom": [POLICY]}}
    assert result.values["networkPolicies"]["enabled"] is True
    assert result.values["networkPolicies"]["ingress"]["to"]["vault:8200"]["from"]["k8s"] == {
        "monitoring-monitoring-kube-prometheus@monitoring/prometheus": True}
    assert result.applied("legacy_istio_hardened_custom_authorization_policies")


@pytest.mark.parametrize(("platform", "authorization", "sidecar", "network"), [
    (Platform(ambient=True), True, False, True),
    (Platform(ambient=True, hardened=True), True, False, True),
    (Platform(ambient=True, network_policies=False), True, False, True),
], ids=["ambient", "ambient-hardened", "ambient-networkPolicies-off"])
def test_ambient_turns_policies_on_and_the_sidecar_off(platform: Platform, authorization: bool, sidecar: bool,
                                                       network: bool) -> None:
    values = package_values("vault", [VAULT_OVERRIDE], platform).values
    assert values["istio"]["authorizationPolicies"]["enabled"] is authorization
    assert values["istio"]["sidecar"]["enabled"] is sidecar
    assert values["networkPolicies"]["enabled"] is network


def test_platform_and_umbrella_values_round_trip() -> None:
    row = {"istiod": {"enabled": False}, "istio": {"ambient": {"enabled": True}}, "kiali": {"enabled": True}}
    platform = Platform.from_umbrella(row)
    assert (platform.istio, platform.ambient, platform.hardened) == (False, True, False)
    assert platform.extra == ((("kiali", "enabled"), True),), "a value the adapter does not model is kept"
    assert Platform.from_umbrella(platform.umbrella_values()) == platform
    assert "istio" not in Platform().umbrella_values(), "no ambient key unless ambient (older umbrellas lack it)"


def test_vault_values_passed_literally_keep_the_legacy_key() -> None:
    result = package_values("vault", [VAULT_OVERRIDE], translate=False)
    assert result.values["istio"]["hardened"]["customAuthorizationPolicies"] == [POLICY]
    assert "custom" not in result.values["istio"]["authorizationPolicies"] and not result.notes


@pytest.mark.parametrize(("platform", "override", "hardened"), [
    (Platform(), {}, False),
    (HARDENED, {}, True),
    (Platform(), {"istio": {"hardened": {"enabled": True}}}, True),
    (Platform(), {"hardened": {"enabled": True}}, True),
], ids=["defaults", "istiod-hardened", "addon-istio-hardened", "addon-hardened"])
def test_vault_deny_all_follows_hardened(platform: Platform, override: dict, hardened: bool) -> None:
    values = package_values("vault", [{"addons": {"vault": {"values": override}}}], platform).values
    assert values["istio"]["authorizationPolicies"]["enabled"] is hardened
    assert values["istio"]["sidecar"]["enabled"] is hardened


def test_eso_values_get_umbrella_defaults_under_user_values() -> None:
    user = {"addons": {"externalSecrets": {"values": {"networkPolicies": {"enabled": False}}}}}
    values = package_values("external-secrets", [user], Platform(istio=False)).values
    assert values == {"networkPolicies": {"enabled": False, "controlPlaneCidr": "0.0.0.0/0", "vpcCidr": "0.0.0.0/0"},
                      "istio": {"enabled": False, "hardened": {"enabled": False}},
                      "image": {"imagePullPolicy": "IfNotPresent"}, "monitoring": {"enabled": True},
                      "openshift": False}
    assert package_values("external-secrets", [user]).values["annotations"] == {"bigbang.dev/istioVersion": "1.28.3"}


def test_snippets_merge_in_order() -> None:
    token = {"addons": {"externalSecrets": {"values": {"clusterSecretStoreConfiguration": {"enabled": True}}}}}
    data = {"addons": {"externalSecrets": {"values": {"externalSecretsConfiguration": {"enabled": True}}}}}
    values = package_values("external-secrets", [token, data]).values
    assert values["clusterSecretStoreConfiguration"] == values["externalSecretsConfiguration"] == {"enabled": True}


def test_unknown_package_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown package"):
        package_values("istio", [])


def test_vault_policy_layout_is_read_from_the_package_values() -> None:
    assert vault_policy_layout({"istio": {"authorizationPolicies": {"custom": []}}}) is BB_COMMON
    assert vault_policy_layout({"istio": {"hardened": {"customAuthorizationPolicies": []}}}) is LEGACY_HARDENED
    assert vault_policy_layout({}) is BB_COMMON


def test_legacy_vault_package_gets_the_literal_key_and_hardened_under_istio_hardened() -> None:
    result = package_values("vault", [VAULT_OVERRIDE], HARDENED, layout=LEGACY_HARDENED)
    assert result.values["istio"] == {"enabled": True, "hardened": {"enabled": True,
                                                                    "customAuthorizationPolicies": [POLICY]}}
    assert result.notes == []


def test_switches_vary_the_umbrella_values_they_name() -> None:
    assert varied_by("external-secrets", HARDENED) == {("istio", "hardened", "enabled")}
    assert varied_by("external-secrets", Platform(istio=False)) == {
        ("istio", "enabled"), ("annotations", "bigbang.dev/istioVersion")}
    assert varied_by("external-secrets", Platform()) == set()
