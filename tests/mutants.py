"""Mutants of the fixture charts: each one text edit that breaks (or fixes) one documented thing.

``breaks`` is the set of claim ids whose verdict must become failing (fail/error/xpass) when the render
tier runs against the mutant; every other claim must keep its reference verdict. A mutant that "fixes"
a known chart defect kills the strict expected failure of that claim (xpass).
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# Imported here, before any in-process pytester run, so pytester's sys.modules snapshot keeps them: their
# caches (compiled schema validators, renders of unchanged charts) then live across the runs.
import esoconf.render.contracts  # noqa: F401
import esoconf.render.helm  # noqa: F401
import esoconf.render.schema  # noqa: F401

FIXTURES = Path(__file__).resolve().parent / "fixtures"
CHARTS = {name: FIXTURES / "charts" / name
          for name in ("external-secrets", "vault", "vault-legacy", "external-secrets-2x", "umbrella",
                       "external-secrets-0.16")}


@dataclass(frozen=True)
class Edit:
    file: str  # relative to the chart directory
    old: str
    new: str


@dataclass(frozen=True)
class Create:
    file: str  # a new file, relative to the chart directory
    text: str


@dataclass(frozen=True)
class Remove:
    file: str


@dataclass(frozen=True)
class Mutant:
    id: str
    package: str
    edits: tuple[Edit | Create | Remove, ...]
    breaks: frozenset[str]

    def __str__(self) -> str:
        return self.id


def mutant(id: str, package: str, file: str, old: str, new: str, *breaks: str) -> Mutant:
    return Mutant(id, package, (Edit(file, old, new),), frozenset(breaks))


def apply(m: Mutant, dest: Path) -> Path:
    """Copy the fixture chart to ``dest`` (links become files) and apply the edits; each ``old`` must occur
    exactly once, a created file must be new, a removed one must exist."""
    chart = dest / m.package
    shutil.copytree(CHARTS[m.package], chart)
    for edit in m.edits:
        path = chart / edit.file
        if isinstance(edit, Create | Remove):
            if path.exists() == isinstance(edit, Create):
                state = "already exists" if path.exists() else "does not exist"
                raise AssertionError(f"mutant {m.id}: {edit.file} {state} (fixture changed: update tests/mutants.py)")
            if isinstance(edit, Remove):
                path.unlink()
            else:
                path.write_text(edit.text, encoding="utf-8")
            continue
        text = path.read_text(encoding="utf-8")
        count = text.count(edit.old)
        if count != 1:
            raise AssertionError(f"mutant {m.id}: {edit.old!r} occurs {count} times in {edit.file}, expected once "
                                 f"(fixture changed: update tests/mutants.py)")
        path.write_text(text.replace(edit.old, edit.new), encoding="utf-8")
    return chart


ESO, VAULT, VAULT_LEGACY = "external-secrets", "vault", "vault-legacy"
ESO_2X, UMBRELLA = "external-secrets-2x", "umbrella"
# claims the reference fixtures fail on purpose: the Vault package before bb-common has neither the doc's
# bb-common NetworkPolicy name nor a deny-all of its own (as the real 0.31.0-bb.8)
BASELINE_FAILING = {ESO: frozenset(), VAULT: frozenset(), VAULT_LEGACY: frozenset({"VLT-NP-1", "VLT-AP-2"})}
NP = "templates/networkpolicies/allow-egress-vault.yaml"
STORE = "templates/secret-store.yaml"
ES = "templates/external-secrets.yaml"
VAULT_NP = "templates/networkpolicies/allow-ingress-custom-app.yaml"
VAULT_AP = "templates/istio/authorization-policies.yaml"
CSS_CRD, ES_CRD = "crds/clustersecretstore.yaml", "crds/externalsecret.yaml"
V1BETA1_UNSERVED, V1BETA1_SERVED = "- name: v1beta1\n    served: false", "- name: v1beta1\n    served: true"
CHECK_AND_SET = """                      checkAndSet:
                        type: object
                        description: Check-and-Set for KV v2 writes (PushSecret)
                        properties:
                          required:
                            type: boolean
"""
MANIFEST = """                  manifest:
                    type: object
                    description: Target a resource kind other than Secret
                    properties:
                      apiVersion:
                        type: string
                      kind:
                        type: string
"""
KPTFILE_0_16_2 = """apiVersion: kpt.dev/v1alpha1
kind: Kptfile
metadata:
  name: crds
upstream:
  type: git
  git:
    repo: https://github.com/external-secrets/external-secrets
    directory: /deploy/crds
    ref: helm-chart-0.16.2
"""

MUTANTS: tuple[Mutant, ...] = (
    # allow-egress-vault
    mutant("egress-port-8201", ESO, NP, "port: 8200", "port: 8201", "NET-1", "NET-TRAFFIC-1"),
    mutant("egress-vault-pod-selector", ESO, NP, "app.kubernetes.io/name: vault",
           "app.kubernetes.io/name: vault-server", "NET-1", "NET-TRAFFIC-1"),
    mutant("egress-ignores-networkPolicies-switch", ESO, NP, "{{- if .Values.networkPolicies.enabled }}",
           "{{- if true }}", "NET-1"),
    mutant("egress-vault-namespace", ESO, NP, "kubernetes.io/metadata.name: vault",
           "kubernetes.io/metadata.name: vault-system", "NET-1", "NET-TRAFFIC-1"),
    mutant("egress-selects-other-pods", ESO, NP, "app.kubernetes.io/name: external-secrets",
           "app.kubernetes.io/name: external-secrets-webhook", "NET-1", "NET-TRAFFIC-1"),
    mutant("egress-protocol-udp", ESO, NP, "protocol: TCP", "protocol: UDP", "NET-1", "NET-TRAFFIC-1"),
    mutant("egress-in-default-namespace", ESO, NP, "namespace: {{ .Release.Namespace }}", "namespace: default",
           "NET-1", "NET-TRAFFIC-1"),
    # the same traffic under another name: the name claim fails (a doc defect naming it), the traffic claim holds
    mutant("egress-renamed-same-traffic", ESO, NP, "name: allow-egress-vault", "name: allow-egress-to-vault", "NET-1"),
    # ESO pod labels
    mutant("default-label-misspelled", ESO, "values.yaml", 'vault-ingress: "true"', 'vault-ingres: "true"', "LBL-1"),
    Mutant("podLabels-key-renamed", ESO, (
        Edit("templates/deployment.yaml", "$u.podLabels", "$u.defaultPodLabels"),
        Edit("values.yaml", "  podLabels:\n", "  defaultPodLabels:\n")), frozenset({"LBL-2"})),
    # ClusterSecretStore
    mutant("token-key-hardcoded", ESO, STORE, "key: {{ $auth.key | quote }}", 'key: "token"', "TOK-1"),
    mutant("token-secret-name-hardcoded", ESO, STORE, "name: {{ $auth.secretName | quote }}", 'name: "vault-token"',
           "TOK-1"),
    mutant("vault-path-dropped", ESO, STORE, "path: {{ $src.path | quote }}", 'path: "secret"', "TOK-1", "K8S-1"),
    mutant("serviceAccountRef-namespace-hardcoded", ESO, STORE,
           "namespace: {{ $auth.serviceAccountRef.namespace | quote }}", 'namespace: "external-secrets"', "K8S-1"),
    mutant("token-namespace-dropped", ESO, STORE, "namespace: {{ $auth.namespace | quote }}", "", "TOK-1", "TOK-2"),
    mutant("kubernetes-role-hardcoded", ESO, STORE, "role: {{ $auth.role | quote }}", 'role: "eso-role"', "K8S-1"),
    mutant("kubernetes-mountPath-default", ESO, STORE, 'default "kubernetes"', 'default "k8s"', "K8S-2"),
    mutant("store-apiVersion-unserved", ESO, STORE, "apiVersion: external-secrets.io/v1",
           "apiVersion: external-secrets.io/v1beta1", "SCH-1", "CRD-2"),
    # ExternalSecret
    mutant("store-kind", ESO, ES, "kind: ClusterSecretStore", "kind: SecretStore", "ES-DATA-1", "ES-FROM-1"),
    mutant("dropped-data-entry", ESO, ES, "toYaml $item.secrets.data ", "toYaml (rest $item.secrets.data) ",
           "ES-DATA-1"),
    mutant("target-name-hardcoded", ESO, ES, '{{ $item.secrets.targetName | default "default-k8s" }}',
           "default-k8s", "ES-DATA-1", "ES-FROM-1"),
    mutant("creationPolicy-hardcoded", ESO, ES, '{{ $item.secrets.targetPolicy | default "Owner" }}', "Owner",
           "ES-DATA-1", "ES-FROM-1"),
    mutant("dropped-extract", ESO, ES, "toYaml $item.secrets.dataFrom ", "toYaml (rest $item.secrets.dataFrom) ",
           "ES-FROM-1"),
    mutant("release-namespace", ESO, ES, "namespace: {{ $item.namespace }}", "namespace: {{ $.Release.Namespace }}",
           "ES-DATA-1", "ES-FROM-1"),
    # fixed defects: the strict expected failures notice
    mutant("refreshInterval-quoted", ESO, ES, '{{ $item.refreshInterval | default "1m" }}',
           '{{ $item.refreshInterval | default "1m" | quote }}', "ES-VAR-4"),
    mutant("data-and-dataFrom-both", ESO, ES,
           '{{- else if kindIs "invalid" $item.secrets.dataFrom }}\n  dataFrom: null\n  {{- else }}',
           '{{- end }}\n  {{- if kindIs "invalid" $item.secrets.dataFrom }}\n  {{- else }}', "ES-VAR-1", "ES-VAR-2"),
    mutant("unique-externalsecret-names", ESO, ES, "name: {{ $item.name }}-externalsecrets",
           "name: {{ $item.name }}-{{ $item.secrets.targetName }}", "ES-VAR-3"),
    # schemas
    mutant("misspelled-field", ESO, "templates/deployment.yaml", "revisionHistoryLimit:", "revisionHistoryLimt:",
           "SCH-1"),
    mutant("istio-apiVersion-without-schema", ESO, "templates/istio/peerauthentication.yaml",
           "apiVersion: security.istio.io/v1", "apiVersion: security.istio.io/v2alpha1", "SCH-2"),
    # unconditional claims that silently depend on an umbrella switch (caught on one SWITCHES row)
    mutant("egress-vault-needs-istio", ESO, NP, "{{- if .Values.networkPolicies.enabled }}",
           "{{- if and .Values.networkPolicies.enabled .Values.istio.enabled }}", "NET-1", "NET-TRAFFIC-1"),
    mutant("vault-ingress-label-dropped-when-hardened", ESO, "templates/deployment.yaml", "{{- with $u.podLabels }}",
           "{{- with and (not $.Values.istio.hardened.enabled) $u.podLabels }}", "LBL-1"),
    mutant("token-namespace-needs-istio", ESO, STORE, "{{- if $auth.namespace }}",
           "{{- if and $auth.namespace $.Values.istio.enabled }}", "TOK-1", "TOK-2"),
    mutant("kubernetes-role-hardcoded-when-hardened", ESO, STORE, "role: {{ $auth.role | quote }}",
           'role: {{ ternary "eso" $auth.role $.Values.istio.hardened.enabled | quote }}', "K8S-1"),
    mutant("mountPath-default-needs-monitoring", ESO, STORE, 'default "kubernetes"',
           'default (ternary "kubernetes" "k8s" $.Values.monitoring.enabled)', "K8S-2"),
    mutant("target-name-needs-istio", ESO, ES, '{{ $item.secrets.targetName | default "default-k8s" }}',
           '{{ ternary ($item.secrets.targetName | default "default-k8s") "default-k8s" $.Values.istio.enabled }}',
           "ES-DATA-1", "ES-FROM-1"),
    mutant("reads-openshift-outside-the-switch-table", ESO, "templates/deployment.yaml", "runAsUser: 1000",
           "runAsUser: {{ ternary 1000680000 1000 (.Values.openshift | default false) }}", "SW-1"),
    # the package's crds/ against its controller's (the subchart's CRD templates)
    Mutant("crds-old-bundle", ESO, (
        Edit(CSS_CRD, V1BETA1_UNSERVED, V1BETA1_SERVED), Edit(CSS_CRD, CHECK_AND_SET, ""), Edit(ES_CRD, MANIFEST, ""),
        Remove("crds/sshkey.yaml"), Create("crds/Kptfile", KPTFILE_0_16_2)), frozenset({"CRD-1"})),
    Mutant("crds-missing-kind", ESO, (Remove("crds/sshkey.yaml"),), frozenset({"CRD-1"})),
    mutant("crds-missing-field", ESO, ES_CRD, MANIFEST, "", "CRD-1"),
    mutant("crds-serve-unserved-version", ESO, ES_CRD, V1BETA1_UNSERVED, V1BETA1_SERVED, "CRD-1"),
    Mutant("store-v1beta1-served-only-by-package-crds", ESO, (
        Edit(STORE, "apiVersion: external-secrets.io/v1", "apiVersion: external-secrets.io/v1beta1"),
        Edit(CSS_CRD, V1BETA1_UNSERVED, V1BETA1_SERVED)), frozenset({"CRD-1", "CRD-2"})),
    mutant("controller-crd-rejects-merge", ESO, "charts/external-secrets/files/" + ES_CRD,
           "- Orphan\n                    - Merge\n", "- Orphan\n", "CRD-2"),
    # the Vault package
    mutant("vault-ingress-port", VAULT, VAULT_NP, "port: 8200", "port: 8300", "VLT-NP-1", "VLT-NP-TRAFFIC-1"),
    mutant("vault-ingress-label", VAULT, VAULT_NP, 'vault-ingress: "true"', 'vault-egress: "true"', "VLT-NP-1",
           "VLT-NP-TRAFFIC-1"),
    mutant("vault-ingress-renamed-same-traffic", VAULT, VAULT_NP,
           "name: allow-ingress-to-vault-port-8200-from-custom-app-ingress", "name: allow-ingress-vault-8200",
           "VLT-NP-1"),
    mutant("vault-allow-renamed-same-traffic", VAULT, VAULT_AP, "name: {{ $ap.name }}", "name: {{ $ap.name }}-v2",
           "VLT-AP-1"),
    mutant("vault-custom-policies-ignored", VAULT, VAULT_AP, ".Values.istio.authorizationPolicies.custom",
           ".Values.istio.authorizationPolicies.extra", "VLT-AP-1",
           "VLT-AP-TRAFFIC-1"),
    mutant("vault-deny-all-is-deny-nothing", VAULT, VAULT_AP, "spec: {}", "spec: {action: DENY}", "VLT-AP-2"),
    mutant("vault-legacy-custom-policies-ignored", VAULT_LEGACY, VAULT_AP, "$h.customAuthorizationPolicies",
           "$h.extraAuthorizationPolicies", "VLT-AP-1"),
)


# the 2.x (bb-common style) ESO fixture through the fixture umbrella: the doc's policy name is gone (NET-1 fails as a
# doc defect naming the generated policy), the traffic holds
BASELINE_2X = frozenset({"NET-1"})
NP_2X = "templates/bigbang/network-policies.yaml"
ESO_VALUES_2X = "templates/external-secrets/values.yaml"
MUTANTS_2X: tuple[Mutant, ...] = (
    # the generated policy under another name: the traffic claim must NOT fail
    mutant("2x-egress-renamed-same-traffic", ESO_2X, NP_2X, 'printf "allow-egress-from-%s-to-ns-%s"',
           'printf "egress-from-%s-to-ns-%s"'),
    # the generated policy no longer admits 8200: the traffic claim must fail
    mutant("2x-egress-drops-8200", ESO_2X, NP_2X, '"port" (int $port)', '"port" (add1 (int $port))', "NET-TRAFFIC-1"),
    mutant("2x-egress-other-namespace", ESO_2X, NP_2X, '"kubernetes.io/metadata.name" $namespace)',
           '"kubernetes.io/metadata.name" (printf "%s-system" $namespace))', "NET-TRAFFIC-1"),
    # the umbrella no longer hands the ESO package the Vault egress shorthand
    mutant("umbrella-drops-vault-egress", UMBRELLA, ESO_VALUES_2X, "vault/vault:8200: %t", "vault/vault:8200: false",
           "NET-TRAFFIC-1"),
)


SUITE = Path(__file__).resolve().parent.parent / "suites" / "render"
FIXTURE_DOC = FIXTURES / "docs" / "VAULT_INTEGRATION.md"
FAILING = {"fail", "error", "xpass"}


def run_render_tier(pytester: Any, workdir: Path, helm: Path, chart: Path = CHARTS[ESO],
                    vault_chart: Path | None = CHARTS[VAULT], doc: Path = FIXTURE_DOC, *extra: str) -> RunResult:
    """The render tier in-process; returns pytest's result and the per-claim verdicts and evidence of
    --report-json."""
    report = workdir / "claims.json"
    args = [str(SUITE), "--chart", str(chart), "--doc", str(doc), "--helm", str(helm),
            "--artifacts-dir", str(workdir / "artifacts"), "--report-json", str(report),
            "-p", "no:cacheprovider", "-q", "--assert=plain", *extra]
    if vault_chart is not None:
        args += ["--vault-chart", str(vault_chart)]
    result = pytester.runpytest_inprocess(*args)
    records = json.loads(report.read_text()) if report.is_file() else []
    return RunResult(result, {r["id"]: r["verdict"] for r in records}, {r["id"]: r["evidence"] for r in records})


@dataclass
class RunResult:
    pytest: Any
    verdicts: dict[str, str]
    evidence: dict[str, str]

    @property
    def failing(self) -> set[str]:
        return {claim for claim, verdict in self.verdicts.items() if verdict in FAILING}


def helm_binary() -> Path:
    """helm for the self-tests (--helm/ESOCONF_HELM, PATH, .tools/bin); skips loudly when there is none."""
    import os

    import pytest

    from esoconf.tools import ToolError, find_tool

    try:
        return find_tool("helm", os.environ.get("ESOCONF_HELM")).path
    except ToolError as exc:
        pytest.skip(f"render self-tests need helm: {exc}")


# --------------------------------------------------------------------------------------------------------------
# live mutants: one defect each in a rendered ClusterSecretStore/ExternalSecret of the chart CI runs live (the
# external-secrets-0.16 fixture; its links become files in the copy). ``breaks`` names the live sync cases
# (test_sync ids) that must fail on the local platform; every other sync case must keep passing.

ESO_LIVE = "external-secrets-0.16"
SYNC_ALL = ("token-data", "token-dataFrom", "kubernetes-data", "kubernetes-dataFrom",
            "kubernetes-data-at-kubernetes-other")
SYNC_DATA = ("token-data", "kubernetes-data", "kubernetes-data-at-kubernetes-other")
SYNC_KUBERNETES = ("kubernetes-data", "kubernetes-dataFrom", "kubernetes-data-at-kubernetes-other")


def live_mutant(id: str, file: str, old: str, new: str, *breaks: str) -> Mutant:
    return Mutant(id, ESO_LIVE, (Edit(file, old, new),), frozenset(breaks))


LIVE_MUTANTS: tuple[Mutant, ...] = (
    live_mutant("store-path-wrong", STORE, "path: {{ $src.path | quote }}",
                'path: {{ printf "%s-wrong" $src.path | quote }}', *SYNC_ALL),
    live_mutant("store-kv-version-wrong", STORE, "version: {{ $src.version | quote }}", 'version: "v1"', *SYNC_ALL),
    live_mutant("kubernetes-mountPath-dropped", STORE,
                '          mountPath: {{ $auth.mountPath | default "kubernetes" | quote }}\n', "",
                "kubernetes-data-at-kubernetes-other"),
    live_mutant("kubernetes-role-dropped", STORE, "          role: {{ $auth.role | quote }}\n", "", *SYNC_KUBERNETES),
    live_mutant("remoteRef-property-mangled", ES, "{{- toYaml $item.secrets.data | nindent 4 }}",
                '{{- toYaml $item.secrets.data | replace "property: " "property: x-" | nindent 4 }}', *SYNC_DATA),
)
