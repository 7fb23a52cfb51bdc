"""The operator console (see app.py)."""
