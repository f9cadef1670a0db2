"""The Textual app: it renders what sources, signs and reduce compute, and nothing more."""
