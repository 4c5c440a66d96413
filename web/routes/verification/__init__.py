"""B9: the external verifier's portal, its grants and the year locks."""
