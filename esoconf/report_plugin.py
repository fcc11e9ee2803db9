"""Reporting plugin: conformance report (JSON, Markdown, HTML), JUnit hygiene, exit codes."""
