"""Material for tests/test_hostile.py: what hostile students put in their notebooks."""
