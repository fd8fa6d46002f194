"""Background jobs of the media pipeline."""
