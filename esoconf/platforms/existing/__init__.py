"""The `existing` cluster provider: the user's own cluster, reached through ``--kubeconfig`` (and
``--kube-context``), under the in-cluster platform (:mod:`esoconf.platforms.incluster`)."""
