"""The ESO chart's values, shared by every platform: the doc's values through the adapter (as a hardened Big
Bang would hand them to the package) plus what the environment must add (images per ``--images``, the wait
job). The helm release on a cluster is the in-cluster platform's
(:mod:`esoconf.platforms.incluster.eso`)."""

from __future__ import annotations

from typing import Any

from ..adapter import HARDENED, deep_merge, package_values
from ..doc import VaultDoc
from .images import ImageSet, split_image
from .manifest_files import load_manifest

ESO_NAMESPACE = "external-secrets"
ESO_RELEASE = "external-secrets-external-secrets"
CONTROLLER_SELECTOR = {"app.kubernetes.io/name": "external-secrets"}
# the release itself applies no stores: each case renders the chart under test with its own values and applies the
# ClusterSecretStore/ExternalSecret the chart renders, rewritten only to run there (esoconf.live.scenario.arrange)
STORES_OFF = {
    "clusterSecretStoreConfiguration": {"enabled": False},
    "externalSecretsConfiguration": {"enabled": False},
}


def doc_eso_values(doc: VaultDoc, section: str = "token") -> dict[str, Any]:
    """The doc's ESO override values for ``section`` through the adapter (hardened Big Bang)."""
    return package_values("external-secrets", [doc.yaml(section).data], HARDENED).values


def image_overrides(images: ImageSet) -> dict[str, Any]:
    """ESO image, pull secrets and wait job for the image profile.

    The wait job (a post-install hook running /bin/bash + kubectl) stays on with registry1, as Big Bang
    ships it; the public kubectl image has no bash, so it is off for upstream/airgap.
    """
    repository, tag = split_image(images["external_secrets"])
    registry1 = images.needs_pull_secret
    upstream: dict[str, Any] = {"image": {"repository": repository, "tag": tag}}
    if not registry1:
        upstream["imagePullSecrets"] = []
    wait_job: dict[str, Any] = {"enabled": registry1}
    if registry1:
        wait_job["image"] = images["kubectl"]
    return {"upstream": upstream, "waitJob": wait_job}


def eso_values(doc_values: dict[str, Any], images: ImageSet | None, *, stores: bool = False) -> dict[str, Any]:
    """``images``: the image set a cluster pulls; None keeps the chart's own images (a platform that pulls none
    runs the controller the chart's image names)."""
    values = deep_merge(doc_values, load_manifest("eso-env-overrides.yaml"))
    if images is not None:
        values = deep_merge(values, image_overrides(images))
    return values if stores else deep_merge(values, STORES_OFF)
