"""The `kind` cluster provider: a kind cluster this run creates or reuses (Docker), under the in-cluster platform
(:mod:`esoconf.platforms.incluster`)."""
