"""Write the golden values of ``tests/test_golden.py`` (``tests/golden/*.json``).

Run only on a deliberate change of behaviour (a metric's definition, a seed's use, a preprocessing step),
and say so in the commit: the golden test exists to show that a restructuring changes no number the tools
print. Usage, from the repository root::

    PYTHONPATH=src OMP_NUM_THREADS=1 python tests/golden/make_golden.py

Every case is computed by :mod:`golden_cases` (next to this file), which the test calls too.
"""
from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import golden_cases  # noqa: E402


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        for name, fn in golden_cases.CASES.items():
            value = fn(Path(tmp))
            path = HERE / f"{name}.json"
            path.write_text(json.dumps(golden_cases.to_jsonable(value), indent=1, sort_keys=False) + "\n")
            print(f"wrote {path}")


if __name__ == "__main__":
    main()
