"""A labelled corpus of marketplace listings, and the scoring of a policy pack against it.

The labels come from the law as `shared/legal/REFERENCES.md` states it, never from what a pack
happens to catch; `README.md` in this folder states the labelling conventions.
"""
