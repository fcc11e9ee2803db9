"""The kind platform, and existing clusters (--kubeconfig).

Everything here runs against a real cluster: a kind cluster this run creates or reuses, or the one a
kubeconfig names. The case layer (:mod:`esoconf.live`) never imports it; it reaches the platform only
through :class:`esoconf.live.platform_api.LivePlatform`.

- ``setup``       ``setup()``: inputs -> cluster -> images -> Istio -> (Vault || ESO || canary) -> seeding, in
                  named steps; ``Session`` (what teardown undoes) and the xdist teardown plan
- ``platform``    ``Platform``: what the cases get once it is up, and its release verbs (ESO, the Vault AP)
- ``cluster``     kind (through pytest-kind's KindCluster) or an existing cluster; helm/kubectl command lines,
                  ``HelmComponent``
- ``istio``       upstream base + istiod, mesh-wide STRICT mTLS, optional allow-nothing
- ``vault``       the Big Bang Vault package in dev mode (hardened parity) and the doc's AuthorizationPolicy
- ``eso``         the ESO chart under test as a helm release
- ``images``      the registry1 pull secret, airgap archives, image-failure detection
- ``canary``      does the CNI enforce NetworkPolicy?
- ``fingerprint`` what is installed vs what this run wants (``--reuse-platform``)
- ``leftovers``   what earlier runs left behind (``--clean-start``)
- ``portforward`` a bounded, cleaned-up ``kubectl port-forward``
"""
