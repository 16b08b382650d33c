"""Partner feeds, the one door to the area (CONTRACT §3.6)."""
