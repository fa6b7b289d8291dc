"""The one compiled part: the iptables-save rule scan (ciliumtui/node/_savescan.c).

Optional, as PyYAML's _yaml: without a C compiler the install goes on and
ciliumtui.node.netfilter runs the same scan in Python (parse_save of 20,000 rules:
14-17 ms with it, 51-57 ms without). CILIUMTUI_PURE_PYTHON=1 builds without it: the offline
bundle (ciliumtui.bundle) carries one pure wheel for every Python and
architecture. Everything else is in pyproject.toml.
"""

import os

from setuptools import Extension, setup

SCAN = Extension("ciliumtui.node._savescan", ["ciliumtui/node/_savescan.c"], optional=True)

setup(ext_modules=[] if os.environ.get("CILIUMTUI_PURE_PYTHON") == "1" else [SCAN])
