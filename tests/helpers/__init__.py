"""Helpers the tests share: tiny configs, data and models, and running the
tools as a user would."""
import os.path as osp

#: The checkout the tests run from.
REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
