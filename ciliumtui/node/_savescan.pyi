# The C scan (_savescan.c); netfilter._scan_rules is the reference it matches.
from collections.abc import Callable

from ..model import NfRule

def scan_rules(
    lines: list[str],
    start: int,
    rules: list[NfRule],
    rule_type: type[NfRule],
    owned: dict[str, bool],
    is_cilium_chain: Callable[[str], bool],
    /,
) -> int: ...
