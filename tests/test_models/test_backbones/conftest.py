"""Fixtures of the backbone tests."""
import logging

import pytest
from mmengine.logging import MMLogger


@pytest.fixture
def log_records():
    """The records that mmengine's current logger emits during the test."""
    logger = MMLogger.get_current_instance()
    records = []
    handler = logging.Handler(logging.DEBUG)
    handler.emit = records.append
    logger.addHandler(handler)
    yield records
    logger.removeHandler(handler)
