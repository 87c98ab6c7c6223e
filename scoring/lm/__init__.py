"""Trusted pieces shared by the language-model environments: the hidden text source and safe weights."""
