"""Kontur.Diadok sandbox (``b24sync sandbox diadok``). See docs/diadok.md."""
