"""The `node` platform: a real single-node Kubernetes without Docker (kubelet, containerd, CNI, kube-proxy,
CoreDNS and kind's NetworkPolicy enforcer) in network namespaces the run makes, so the doc's network claims are
observed as traffic. :mod:`.cluster` brings it up and tears it down; :mod:`.imagebuild` makes its images."""
