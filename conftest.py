"""Root conftest. The machinery is the `esoconf` plugin (registered by entry point);
this file only enables pytester for the self-tests that run suites against fixture charts."""

pytest_plugins = ["pytester"]
