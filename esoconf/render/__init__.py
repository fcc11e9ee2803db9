"""The render tier's machinery: ``helm template`` of the chart under test (:mod:`.helm`, which the live platforms
use too, to apply the chart's own objects), the strict schema check (:mod:`.schema`), the documented contracts
(:mod:`.contracts`), the installed CRDs against the controller's (:mod:`.crds`), the umbrella route
(:mod:`.umbrella`) and the NetworkPolicy/AuthorizationPolicy traffic model (:mod:`.netpol`, :mod:`.traffic`)."""
