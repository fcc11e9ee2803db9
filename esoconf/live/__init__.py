"""The live tier's environment: kind, Istio, Vault dev and the ESO chart under test.

Thin layers over tested logic: every command line, values document and decision is a pure
function (unit-tested with fakes under tests/live/); the modules here only run them.

- ``cluster``     kind (through pytest-kind's KindCluster) or an existing cluster; helm/kubectl command lines
- ``kube``        ``Kube``: the official kubernetes client behind the small interface the suites use
- ``istio``       upstream base + istiod, mesh-wide STRICT mTLS, optional allow-nothing
- ``vault``       the Big Bang Vault package in dev mode (hardened parity) and ``VaultSeeder`` (hvac)
- ``eso``         the ESO chart under test with the doc's values through the adapter + environment overrides
- ``images``      image profiles (registry1 / upstream / airgap), pull secret, image-failure detection
- ``fingerprint`` what is installed vs what this run wants (``--reuse-platform``)
- ``portforward`` a bounded, cleaned-up ``kubectl port-forward``
- ``diagnostics`` what to collect on failure, redacted
- ``platform``    ``Platform``: the pieces above installed in order, with phase timings
"""
