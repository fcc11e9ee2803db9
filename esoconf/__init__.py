"""eso-vault-conformance: the machinery behind the suites (config, tools, waits, matchers, renders, reports)."""

__version__ = "0.1.0"
