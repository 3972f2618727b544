"""Helpers the tests share: tiny configs, data and models, and running the
tools as a user would."""
