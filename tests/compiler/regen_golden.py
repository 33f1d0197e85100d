"""Rewrite the golden instruction streams: ``python -m tests.compiler.regen_golden``.

Run it only after a code generation change you intend; review the diff of
``tests/compiler/golden/*.s`` before committing it.
"""

from __future__ import annotations

import sys

from tests.compiler.golden_cases import CASES, GOLDEN, path, render


def main() -> int:
    GOLDEN.mkdir(exist_ok=True)
    for name in CASES:
        path(name).write_text(render(name))
        print(f"wrote {path(name)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
