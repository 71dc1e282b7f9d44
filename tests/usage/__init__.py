"""Usage-summary source tests."""
