# SPDX-License-Identifier: BSD-3-Clause
"""Conformance tests: make dns_server importable from the test modules."""
import pathlib
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
