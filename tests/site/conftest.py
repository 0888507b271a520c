"""Fixtures of the page tests."""

import pytest
from django.core.cache import cache


@pytest.fixture
def empty_cache():
    """The default cache (kept pages and counts) empty before the test and after it."""
    cache.clear()
    yield
    cache.clear()
