"""The one compiled part: the iptables-save rule scan (ciliumtui/node/_savescan.c).

Optional, as PyYAML's _yaml: without a C compiler the install goes on and
ciliumtui.node.netfilter runs the same scan in Python (20,000 rules: ~10 ms in C,
50-90 ms in Python). CILIUMTUI_PURE_PYTHON=1 builds without it: the offline
bundle (ciliumtui.bundle) carries one pure wheel for every Python and
architecture. Everything else is in pyproject.toml.
"""

import os

from setuptools import Extension, setup

SCAN = Extension("ciliumtui.node._savescan", ["ciliumtui/node/_savescan.c"], optional=True)

setup(ext_modules=[] if os.environ.get("CILIUMTUI_PURE_PYTHON") == "1" else [SCAN])
