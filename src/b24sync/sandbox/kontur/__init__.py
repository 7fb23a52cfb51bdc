"""Kontur.Buhgalteria *model* sandbox (``b24sync sandbox kontur``). See docs/kontur-buhgalteria.md."""
