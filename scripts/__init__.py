"""The `meridian` command line, the offline engine behind it, and CI helpers."""
