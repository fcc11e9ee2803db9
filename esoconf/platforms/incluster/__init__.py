"""The in-cluster platform: Istio, Vault and the ESO release installed with helm into the cluster of a provider
(kind, node, or an existing cluster with ``--kubeconfig``), the canary, the port-forward, diagnostics and cleanup,
shared by every provider. It imports no provider: setup asks the registry (:mod:`esoconf.platforms`) for the one
the configuration chooses and talks to it through :class:`.provider.ClusterProvider`. The case layer
(:mod:`esoconf.live`) never imports it; it reaches the platform only through
:class:`esoconf.live.platform.LivePlatform`.

- ``setup``       ``setup()``: inputs -> cluster -> images -> Istio -> (Vault || ESO || canary) -> seeding, in
                  named steps; ``Session`` (what teardown undoes) and the xdist teardown plan
- ``provider``    ``ClusterProvider``: what setup asks of kind, node and existing; which one a run uses
- ``platform``    ``Platform``: what the cases get once it is up, and its release verbs (ESO, the Vault AP)
- ``inputs``      the tools, the charts and the doc, read before any cluster work
- ``cluster``     how to reach the cluster; helm/kubectl command lines, ``Env``, ``HelmComponent``
- ``istio``       upstream base + istiod, mesh-wide STRICT mTLS, optional allow-nothing
- ``vault``       the Big Bang Vault package in dev mode (hardened parity) and the doc's AuthorizationPolicy
- ``eso``         the ESO chart under test as a helm release
- ``images``      the registry1 pull secret, airgap archives, image-failure detection
- ``canary``      does the CNI enforce NetworkPolicy?
- ``fingerprint`` what is installed vs what this run wants (``--reuse-platform``)
- ``leftovers``   what earlier runs left behind (``--clean-start``)
- ``portforward`` a bounded, cleaned-up ``kubectl port-forward``
"""
