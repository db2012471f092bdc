"""Shared test fixtures. Area-specific fixtures live in each tests/<area>/conftest.py."""
import os

# Two cores on CI: keep torch and BLAS from oversubscribing when pytest runs things in subprocesses.
os.environ.setdefault("OMP_NUM_THREADS", "2")
os.environ.setdefault("MKL_NUM_THREADS", "2")
