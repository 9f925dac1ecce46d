"""pytest configuration. What the tests share (running the command, traces, `close`, finite
differences) is in support.py; the slow tests are marked `slow` (`python -m pytest -m "not slow"`)."""
