# Fixtures live in one plugin module per real part they start, so each stays readable alone.
pytest_plugins = [
    "tests.fixtures.kube",
    "tests.fixtures.prometheus",
    "tests.fixtures.alertmanager",
    "tests.fixtures.cgroups",
    "tests.fixtures.vm",
    "tests.fixtures.controller",
]
