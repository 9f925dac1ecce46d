"""pytest configuration. What the tests share (running the command, traces, `close`, finite
differences) is in support.py; the slow tests are marked `slow` (`python -m pytest -m "not slow"`)."""

from hypothesis import HealthCheck, settings

# No property-based test depends on the clock: no deadline per example, and no health check that
# fails when generating examples is slow (on a busy machine). A test's own @settings override the
# settings it names.
settings.register_profile("symgrad", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("symgrad")


def pytest_collection_modifyitems(config: object, items: list) -> None:
    """The JAX oracle runs last.  Once JAX has computed, its thread pools are alive, and a fork (the
    symbolic check's child, multiprocessing's fork start) in a multithreaded process can deadlock;
    every other test forks before JAX starts any thread."""
    items.sort(key=lambda item: item.path.name == "test_oracle.py")
