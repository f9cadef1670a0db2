"""One widget per screen region."""
