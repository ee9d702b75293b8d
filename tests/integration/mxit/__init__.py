# SPDX-License-Identifier: BSD-3-Clause
"""Helpers of the mxedge integration suite (see conftest.py)."""
