"""Live-tier gate: when e2e tests are selected on a machine that cannot run them, stop at once."""
