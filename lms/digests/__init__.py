"""Weekly email digests of new completions for sponsor staff."""
