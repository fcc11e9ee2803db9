"""The live tier's case layer, and what every platform shares.

The case layer knows no platform: it talks to one through :class:`~esoconf.live.platform.LivePlatform`.
The platforms live under :mod:`esoconf.platforms`: the in-cluster platform (``incluster``) on the cluster of a
provider (``kind``, ``node``, or an ``existing`` cluster with ``--kubeconfig``), and ``local`` (local processes).

The case layer:

- ``cases``        the case tables (what to break, the expected outcome, the fix): a new case is a row here
- ``expectations`` conditions and Event patterns per ESO version
- ``verdicts``     live verdicts on the doc's claims (holds, refuted with evidence, doc errors)
- ``capabilities`` what a platform can show and what each case needs (``@pytest.mark.needs``)
- ``platform``     ``LivePlatform``, the protocol the verbs use; ``Phases``, bring-up timings
- ``scenario``     the test verbs by what they do (arrange, observe, fix, judge); ``Scenario`` composes them

Shared by the case layer and the platforms:

- ``kube``           ``Kube``: the official kubernetes client behind the small interface the suites use
- ``vault``          ``VaultSeeder`` (hvac) and the seeding the doc needs
- ``eso``            the ESO chart's values: the doc's values through the adapter + environment overrides
- ``images``         image profiles (registry1 / upstream / airgap): which images a run uses
- ``diagnostics``    what to collect on failure, redacted
- ``naming``         the run id and the per-test namespace
- ``workers``        the xdist workers of a run: the serial lock, the barrier before a node comes down
- ``manifest_files`` the files under manifests/live/
"""
