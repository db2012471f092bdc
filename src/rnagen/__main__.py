"""``python -m rnagen`` (also what ``torchrun -m rnagen`` runs)."""
from .cli.main import main

if __name__ == "__main__":
    raise SystemExit(main())
